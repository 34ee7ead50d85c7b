// Clinician viewer: uploads a scan with the subject's metadata to POST /v1/predictions, polls
// the job, shows the result and draws map.nii.gz over scan.nii.gz with NiiVue. Every request
// goes to this page's own origin.
import { Niivue, NVImage, SLICE_TYPE } from '/assets/niivue.js';

const API_KEY_STORAGE = 'dlco-api-key';
const POLL_INTERVAL_MS = 1000;
/** Form fields sent with the scan, in the order the server checks them. */
const METADATA_FIELDS = ['age', 'sex', 'height', 'weight', 'smoking', 'pack_years', 'hb', 'cohb'];
/** CT display window in HU: a lung window (level -600, width 1500). */
const CT_WINDOW = { min: -1350, max: 150 };
/**
 * Map values below this fraction of the largest absolute value are drawn transparent, so the
 * lung parenchyma of the CT stays visible where the map is near zero.
 */
const MAP_THRESHOLD_FRACTION = 0.2;

const element = (id) => document.getElementById(id);

/** An error response of the API, shown as its status, code and message. */
class ApiError extends Error {
  constructor(status, code, message, details = {}, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter;
  }
}

let niivue;
let pollGeneration = 0;

function apiKey() {
  return element('api-key').value.trim();
}

async function apiFetch(path, init = {}) {
  const headers = { ...init.headers, Authorization: `Bearer ${apiKey()}` };
  const response = await fetch(path, { ...init, headers });
  if (!response.ok) throw await apiErrorFrom(response);
  return response;
}

async function apiErrorFrom(response) {
  const text = await response.text();
  const retryAfter = response.headers.get('Retry-After');
  try {
    const { error } = JSON.parse(text);
    return new ApiError(response.status, error.code, error.message, error.details, retryAfter);
  } catch {
    const message = text.trim() === '' ? response.statusText : text.slice(0, 300);
    return new ApiError(response.status, 'HTTP_ERROR', message, {}, retryAfter);
  }
}

function showError(error) {
  const box = element('error');
  if (error instanceof ApiError) {
    let text = `${error.status} ${error.code}: ${error.message}`;
    if (error.details.field !== undefined) text += `\nField: ${error.details.field}`;
    if (error.status === 401 || error.status === 403) text += '\nCheck the API key.';
    if (error.retryAfter !== null) text += `\nRetry in ${error.retryAfter} s.`;
    box.textContent = text;
  } else {
    box.textContent = `Request failed: ${error.message}`;
  }
  box.hidden = false;
}

function clearError() {
  element('error').hidden = true;
  element('error').textContent = '';
}

function setStatus(text) {
  element('job-status').textContent = text;
}

/** Builds the upload with the metadata fields before the scan, so the server checks them first. */
function uploadBody(form) {
  const body = new FormData();
  for (const name of METADATA_FIELDS) {
    const value = form.elements[name].value.trim();
    if (value !== '') body.append(name, value);
  }
  const file = element('scan').files[0];
  body.append('scan', file, file.name);
  return body;
}

async function submitPrediction(event) {
  event.preventDefault();
  clearError();
  element('result').hidden = true;
  element('map').hidden = true;
  const generation = ++pollGeneration;
  const button = element('submit');
  button.disabled = true;
  try {
    setStatus('Uploading…');
    const response = await apiFetch('/v1/predictions', {
      method: 'POST',
      body: uploadBody(event.target),
    });
    const job = await response.json();
    await followJob(job.id, generation);
  } catch (error) {
    setStatus('');
    showError(error);
  } finally {
    button.disabled = false;
  }
}

async function followJob(id, generation) {
  for (;;) {
    const job = await (await apiFetch(`/v1/predictions/${id}`)).json();
    if (generation !== pollGeneration) return;
    setStatus(`Job ${id}: ${job.state}`);
    if (job.state === 'failed') {
      throw new ApiError(job.errorStatus, job.error.code, job.error.message);
    }
    if (job.state === 'done') {
      element('result').dataset.jobId = id;
      showResult(job.result);
      await showMap(id, job.result);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}

function formatNumber(value, digits) {
  return value === null || value === undefined ? 'n/a' : value.toFixed(digits);
}

function setText(id, text) {
  element(id).textContent = text;
}

function showResult(result) {
  const { dlco, model } = result;
  setText('intended-use', result.intendedUse);
  setText('dlco-estimate', formatNumber(dlco.estimate, 2));
  setText('dlco-coverage', formatNumber(dlco.intervalCoverage * 100, 0));
  setText('dlco-lower', formatNumber(dlco.lower, 2));
  setText('dlco-upper', formatNumber(dlco.upper, 2));
  setText('dlco-predicted', formatNumber(dlco.predicted, 2));
  setText('dlco-reference', dlco.reference.equations);
  setText('dlco-percent-predicted', formatNumber(dlco.percentPredicted, 1));
  setText('dlco-z-score', formatNumber(dlco.zScore, 2));
  setText('dlco-lln', formatNumber(dlco.lln, 2));
  setText('model-id', model.id);
  setText('model-version', model.version);
  setText('model-trained-on', model.trainedOn);
  setText('deficit-definition', result.deficit.definition);

  element('model-limitations').replaceChildren(...model.limitations.map(listItem));
  element('warnings').replaceChildren(...result.warnings.map(listItem));
  element('warnings-section').hidden = result.warnings.length === 0;

  const rows = result.regions.map((region) =>
    tableRow([
      region.zone,
      formatNumber(region.lungVolumeMl, 0),
      formatNumber(region.contributionMlMinMmHg, 2),
      formatNumber(region.expectedMlMinMmHg, 2),
      formatNumber(region.deficitMlMinMmHg, 2),
    ]),
  );
  element('zones').tBodies[0].replaceChildren(...rows);
  // The total row is the CLI's: zone lung volumes summed, the estimate as the contribution.
  const lungMl = result.regions.reduce((sum, region) => sum + region.lungVolumeMl, 0);
  const total = tableRow([
    'total',
    formatNumber(lungMl, 0),
    formatNumber(dlco.estimate, 2),
    formatNumber(totalExpected(result.regions), 2),
    formatNumber(result.deficit.totalMlMinMmHg, 2),
  ]);
  element('zones').tFoot.replaceChildren(total);
  element('result').hidden = false;
}

/**
 * Sums the zones' expected values: the predicted DLCO for lung-volume shares, or the model's own
 * expectation, which differs from it. Returns null when the result has no expected values.
 */
function totalExpected(regions) {
  let total = 0;
  for (const region of regions) {
    if (region.expectedMlMinMmHg === null) return null;
    total += region.expectedMlMinMmHg;
  }
  return total;
}

function listItem(text) {
  const item = document.createElement('li');
  item.textContent = text;
  return item;
}

function tableRow(cells) {
  const row = document.createElement('tr');
  cells.forEach((text, index) => {
    const cell = document.createElement('td');
    cell.textContent = text;
    if (index > 0) cell.className = 'number';
    row.append(cell);
  });
  return row;
}

async function fetchArtifact(id, file) {
  const response = await apiFetch(`/v1/predictions/${id}/${file}`);
  return response.arrayBuffer();
}

async function showMap(id, result) {
  const mapInfo = result.maps.map;
  setText('map-quantity', mapInfo.quantity);
  setText('map-unit', mapInfo.unit);
  setStatus(`Job ${id}: done; loading the CT and the map`);
  const [scanBytes, mapBytes] = await Promise.all([
    fetchArtifact(id, 'scan.nii.gz'),
    fetchArtifact(id, mapInfo.file),
  ]);
  // The section must be visible before NiiVue measures the canvas.
  element('map').hidden = false;
  if (niivue === undefined) {
    niivue = new Niivue({
      backColor: [0, 0, 0, 1],
      isColorbar: true,
      logLevel: 'warn',
      // Patient's right on the screen's left, as radiologists read CT.
      isRadiologicalConvention: true,
      dragAndDropEnabled: false,
      multiplanarShowRender: 0,
    });
    await niivue.attachToCanvas(element('viewer-canvas'));
  }
  for (const volume of [...niivue.volumes]) niivue.removeVolume(volume);

  const ct = await NVImage.loadFromUrl({
    url: scanBytes,
    name: 'scan.nii.gz',
    colormap: 'gray',
    cal_min: CT_WINDOW.min,
    cal_max: CT_WINDOW.max,
  });
  ct.colorbarVisible = false;
  const map = await NVImage.loadFromUrl({
    url: mapBytes,
    name: mapInfo.file,
    colormap: 'warm',
    opacity: mapOpacity(),
  });
  // Zero outside the lung must stay transparent, so the range starts just above zero. NiiVue
  // mirrors the range for negative values, which get a cool colour map only when present.
  const peak = Math.max(Math.abs(map.global_min), Math.abs(map.global_max));
  if (peak > 0) {
    map.cal_min = peak * MAP_THRESHOLD_FRACTION;
    map.cal_max = peak;
    if (map.global_min < -map.cal_min) map.colormapNegative = 'winter';
  }
  niivue.addVolume(ct);
  niivue.addVolume(map);
  niivue.setSliceType(SLICE_TYPE.MULTIPLANAR);
  centreOnMapPeak(map);
  niivue.updateGLVolume();
  setStatus(`Job ${id}: done`);
  element('map').dataset.loaded = 'true';
}

/** Moves the crosshair to the map voxel with the largest value, so the slices show the map. */
function centreOnMapPeak(map) {
  // NiiVue's crosshair position is a fraction of the volume in RAS voxel order.
  const values = map.img2RAS();
  let peakIndex = 0;
  for (let index = 1; index < values.length; index++) {
    if (values[index] > values[peakIndex]) peakIndex = index;
  }
  const [, nx, ny] = map.dimsRAS;
  const voxel = [
    peakIndex % nx,
    Math.floor(peakIndex / nx) % ny,
    Math.floor(peakIndex / (nx * ny)),
  ];
  niivue.scene.crosshairPos = map.convertVox2Frac(voxel);
}

/** Opacity of the map layer: the slider's value, or 0 while 'Show map' is off. */
function mapOpacity() {
  if (!element('show-map').checked) return 0;
  return Number(element('map-opacity').value);
}

function updateMapOpacity() {
  setText('map-opacity-value', `${Math.round(Number(element('map-opacity').value) * 100)} %`);
  if (niivue === undefined || niivue.volumes.length < 2) return;
  niivue.setOpacity(1, mapOpacity());
}

function start() {
  const keyInput = element('api-key');
  keyInput.value = sessionStorage.getItem(API_KEY_STORAGE) ?? '';
  keyInput.addEventListener('input', () => sessionStorage.setItem(API_KEY_STORAGE, apiKey()));
  element('prediction-form').addEventListener('submit', submitPrediction);
  element('show-map').addEventListener('change', updateMapOpacity);
  element('map-opacity').addEventListener('input', updateMapOpacity);
  document.body.dataset.ready = 'true';
}

start();

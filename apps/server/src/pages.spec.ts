import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

import { launchChromium, type Browser, type Page } from '@dlco/browser-testing';
import { decode } from 'fast-png';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startServer, type RunningServer } from './index.ts';
import { capturingLogger } from './testing/http-helpers.ts';
import { niftiInt16 } from './testing/scan-fixtures.ts';

const SERVER_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const REPO_ROOT = join(SERVER_ROOT, '../..');
const DEMO_SCAN = join(REPO_ROOT, 'demo/scan.nii.gz');
const DEMO_SUBJECT = JSON.parse(readFileSync(join(REPO_ROOT, 'demo/subject.json'), 'utf8'));
const DEMO_MODEL = join(REPO_ROOT, 'models/demo');
const API_KEY = 'viewer-test-key-0123456789';

const workDir = mkdtempSync(join(tmpdir(), 'dlco-pages-'));
const capture = capturingLogger();
let server: RunningServer;
let browser: Browser;

beforeAll(async () => {
  server = await startServer({
    host: '127.0.0.1',
    port: 0,
    dataDir: join(workDir, 'data'),
    modelDir: DEMO_MODEL,
    apiKeys: [API_KEY],
    logger: capture.logger,
    explain: ['contributions'],
  });
  await server.ready;
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  // DLCO_KEEP_TEST_DIR=1 keeps the folder, with the viewer screenshots, for inspection.
  if (process.env.DLCO_KEEP_TEST_DIR === '1') console.log(`Test files kept in ${workDir}`);
  else rmSync(workDir, { recursive: true, force: true });
});

/** What a page did that the tests reject: requests to other hosts and console errors. */
interface PageRecord {
  offHostRequests: string[];
  consoleErrors: string[];
}

async function openPage(path: string): Promise<{ page: Page; record: PageRecord }> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const record: PageRecord = { offHostRequests: [], consoleErrors: [] };
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.protocol === 'data:') return;
    // A blob: URL names its creator's origin in its path.
    const host = url.protocol === 'blob:' ? new URL(url.pathname).hostname : url.hostname;
    if (host !== '127.0.0.1') record.offHostRequests.push(request.url());
  });
  page.on('console', (message) => {
    if (message.type() === 'error') record.consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => record.consoleErrors.push(error.message));
  await page.goto(`${server.url}${path}`);
  return { page, record };
}

function authorized(): RequestInit {
  return { headers: { Authorization: `Bearer ${API_KEY}` } };
}

/** Fills the viewer's form with the demo scan and the demo subject's metadata. */
async function fillDemoForm(page: Page, apiKey: string, overrides: Record<string, string> = {}) {
  const subject = DEMO_SUBJECT.subject;
  const fields: Record<string, string> = {
    age: String(subject.ageYears),
    height: String(subject.heightCm),
    weight: String(subject.weightKg),
    pack_years: String(subject.packYears),
    hb: String(subject.hbGdl),
    cohb: String(subject.cohbPercent),
    ...overrides,
  };
  await page.fill('#api-key', apiKey);
  await page.setInputFiles('#scan', DEMO_SCAN);
  for (const [name, value] of Object.entries(fields)) {
    await page.fill(`input[name="${name}"]`, value);
  }
  await page.selectOption('select[name="sex"]', subject.sex);
  await page.selectOption('select[name="smoking"]', subject.smoking);
}

/** Parses a number shown on the page and checks it rounds from `expected`. */
function expectShown(text: string, expected: number, digits: number, label: string) {
  const displayed = Number(text);
  expect(Number.isFinite(displayed), `${label}: '${text}' is not a number`).toBe(true);
  const error = Math.abs(displayed - expected);
  expect(error, `${label}: page ${text}, JSON ${expected}`).toBeLessThanOrEqual(
    0.5 * 10 ** -digits + 1e-9,
  );
}

/** Pixels of a PNG that are clearly coloured (not grey), and those that are grey but not black. */
function countPixels(png: Buffer): { coloured: number; grey: number; total: number } {
  const image = decode(png);
  const channels = image.channels;
  let coloured = 0;
  let grey = 0;
  for (let offset = 0; offset < image.data.length; offset += channels) {
    const red = image.data[offset];
    const green = image.data[offset + 1];
    const blue = image.data[offset + 2];
    const spread = Math.max(red, green, blue) - Math.min(red, green, blue);
    if (spread > 60) coloured++;
    else if (spread < 8 && red > 40) grey++;
  }
  return { coloured, grey, total: image.width * image.height };
}

/** Waits until NiiVue has drawn the current state, two animation frames later. */
async function settle(page: Page) {
  await page.evaluate(
    () =>
      new Promise<void>((resolve) =>
        requestAnimationFrame(() => requestAnimationFrame(() => resolve())),
      ),
  );
  await page.waitForTimeout(500);
}

describe('viewer page', () => {
  let page: Page;
  let record: PageRecord;
  let jobId: string;
  let job: Record<string, any>;

  beforeAll(async () => {
    ({ page, record } = await openPage('/'));
    expect(new URL(page.url()).pathname).toBe('/viewer');
    await page.waitForSelector('body[data-ready="true"]');
    await fillDemoForm(page, API_KEY);
    await page.click('#submit');
    await page.waitForSelector('#map[data-loaded="true"]', { timeout: 180_000 });
    jobId = (await page.getAttribute('#result', 'data-job-id'))!;
    const response = await fetch(`${server.url}/v1/predictions/${jobId}`, authorized());
    job = await response.json();
  }, 240_000);

  afterAll(async () => {
    await page?.close();
  });

  it('sends a Content-Security-Policy without remote origins', async () => {
    const response = await fetch(`${server.url}/viewer`);
    const policy = response.headers.get('content-security-policy') ?? '';
    expect(policy).toContain("default-src 'none'");
    expect(policy).toContain("script-src 'self'");
    expect(policy).toContain("connect-src 'self';");
    expect(policy).not.toMatch(/https?:/);
  });

  it('shows the estimate and reference values of the job', async () => {
    expect(job.state).toBe('done');
    const { dlco } = job.result;
    const pageText = async (id: string) => (await page.textContent(`#${id}`))!.trim();
    expectShown(await pageText('dlco-estimate'), dlco.estimate, 2, 'estimate');
    expectShown(await pageText('dlco-lower'), dlco.lower, 2, 'lower');
    expectShown(await pageText('dlco-upper'), dlco.upper, 2, 'upper');
    expectShown(await pageText('dlco-coverage'), dlco.intervalCoverage * 100, 0, 'coverage');
    expectShown(await pageText('dlco-predicted'), dlco.predicted, 2, 'predicted');
    expectShown(await pageText('dlco-percent-predicted'), dlco.percentPredicted, 1, '% predicted');
    expectShown(await pageText('dlco-z-score'), dlco.zScore, 2, 'z-score');
    expectShown(await pageText('dlco-lln'), dlco.lln, 2, 'LLN');
  });

  it('shows the model and its training data', async () => {
    const { model } = job.result;
    expect(await page.textContent('#model-id')).toBe(model.id);
    expect(await page.textContent('#model-version')).toBe(model.version);
    expect(await page.textContent('#model-trained-on')).toBe(model.trainedOn);
    const limitations = await page.$$eval('#model-limitations li', (items) =>
      items.map((item) => item.textContent),
    );
    expect(limitations).toEqual(model.limitations);
  });

  it('shows the research-use notice', async () => {
    const notice = page.locator('#intended-use');
    expect(await notice.isVisible()).toBe(true);
    expect(await notice.textContent()).toMatch(/^Research use, not diagnosis\./);
    expect(await page.locator('#result .notice').isVisible()).toBe(true);
  });

  it('shows every zone with its numbers', async () => {
    const regions = job.result.regions as Record<string, number | string>[];
    const rows = await page.$$eval('#zones tbody tr', (trs) =>
      trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent ?? '')),
    );
    expect(rows.length).toBe(regions.length);
    regions.forEach((region, index) => {
      const [zone, lungMl, contribution, expected, deficit] = rows[index];
      expect(zone).toBe(region.zone);
      expectShown(lungMl, region.lungVolumeMl as number, 0, `${zone} lung mL`);
      expectShown(contribution, region.contributionMlMinMmHg as number, 2, `${zone} contribution`);
      expectShown(expected, region.expectedMlMinMmHg as number, 2, `${zone} expected`);
      expectShown(deficit, region.deficitMlMinMmHg as number, 2, `${zone} deficit`);
    });
    const total = await page.$$eval('#zones tfoot td', (tds) => tds.map((td) => td.textContent));
    const lungMl = regions.reduce((sum, region) => sum + (region.lungVolumeMl as number), 0);
    expectShown(total[1]!, lungMl, 0, 'total lung mL');
    expectShown(total[2]!, job.result.dlco.estimate, 2, 'total contribution');
    const expectedSum = regions.reduce(
      (sum, region) => sum + (region.expectedMlMinMmHg as number),
      0,
    );
    expectShown(total[3]!, expectedSum, 2, 'total expected');
    expectShown(total[4]!, job.result.deficit.totalMlMinMmHg, 2, 'total deficit');
  });

  it('draws the map in colour over the grey CT', async () => {
    const canvas = page.locator('#viewer-canvas');
    await settle(page);
    const withMap = await canvas.screenshot({ path: join(workDir, 'viewer-map.png') });
    await page.uncheck('#show-map');
    await settle(page);
    const withoutMap = await canvas.screenshot({ path: join(workDir, 'viewer-ct.png') });
    await page.check('#show-map');
    await settle(page);
    await page.screenshot({ path: join(workDir, 'viewer-page.png'), fullPage: true });

    const on = countPixels(withMap);
    const off = countPixels(withoutMap);
    // The CT alone is mostly grey, and the map adds coloured pixels over the lungs.
    expect(off.grey / off.total).toBeGreaterThan(0.05);
    expect((on.coloured - off.coloured) / on.total).toBeGreaterThan(0.01);
  });

  it('map opacity slider starts at 0.5 and fades the map', async () => {
    const canvas = page.locator('#viewer-canvas');
    expect(await page.inputValue('#map-opacity')).toBe('0.5');
    await settle(page);
    const half = countPixels(await canvas.screenshot());
    await page.fill('#map-opacity', '0');
    await settle(page);
    const none = countPixels(await canvas.screenshot());
    await page.fill('#map-opacity', '0.5');
    await settle(page);
    expect(half.coloured).toBeGreaterThan(none.coloured);
    expect(none.grey / none.total).toBeGreaterThan(0.05);
  });

  it('shows result warnings under their own heading', async () => {
    const warnings = job.result.warnings as string[];
    const shown = await page.$$eval('#warnings-section li', (items) =>
      items.map((item) => item.textContent),
    );
    expect(shown).toEqual(warnings);
    expect(await page.locator('#warnings-section').isVisible()).toBe(warnings.length > 0);
    expect(await page.locator('#model-limitations #warnings').count()).toBe(0);
  });

  it('keeps the API key in session storage only', async () => {
    const stored = await page.evaluate(() => ({
      session: sessionStorage.getItem('dlco-api-key'),
      local: localStorage.length,
    }));
    expect(stored.session).toBe(API_KEY);
    expect(stored.local).toBe(0);
  });

  it('sends no request off 127.0.0.1 and logs no errors', () => {
    expect(record.offHostRequests).toEqual([]);
    expect(record.consoleErrors).toEqual([]);
  });
});

describe('viewer errors', () => {
  it('BAD CALL - wrong API key shows 403 FORBIDDEN', async () => {
    const { page } = await openPage('/viewer');
    await page.waitForSelector('body[data-ready="true"]');
    await fillDemoForm(page, 'not-a-key');
    await page.click('#submit');
    const error = page.locator('#error');
    await error.waitFor({ state: 'visible' });
    expect(await error.textContent()).toContain('403 FORBIDDEN');
    await page.close();
  });

  it('BAD CALL - age 150 shows 422 METADATA_INVALID', async () => {
    const { page } = await openPage('/viewer');
    await page.waitForSelector('body[data-ready="true"]');
    await fillDemoForm(page, API_KEY, { age: '150' });
    await page.click('#submit');
    const error = page.locator('#error');
    await error.waitFor({ state: 'visible' });
    const text = await error.textContent();
    expect(text).toContain('422 METADATA_INVALID');
    expect(text).toContain('Field: age');
    await page.close();
  });
});

describe('viewer failed job', () => {
  it('EXPECTED FAILURE - 30 mm spacing shows INPUT_SPACING_INVALID', async () => {
    // The upload passes the header checks, and the job's reader rejects the spacing.
    const coarse = join(workDir, 'coarse.nii');
    const data = new Int16Array(8 * 8 * 8).fill(-1000);
    writeFileSync(coarse, niftiInt16({ dims: [8, 8, 8], spacingMm: [30, 30, 30], data }));
    const { page, record } = await openPage('/viewer');
    await page.waitForSelector('body[data-ready="true"]');
    await fillDemoForm(page, API_KEY);
    await page.setInputFiles('#scan', coarse);
    await page.click('#submit');
    const error = page.locator('#error');
    await error.waitFor({ state: 'visible', timeout: 120_000 });
    expect(await error.textContent()).toContain('422 INPUT_SPACING_INVALID');
    expect(await page.locator('#result').isVisible()).toBe(false);
    expect(record.consoleErrors).toEqual([]);
    await page.close();
  }, 180_000);
});

describe('scan.nii.gz artifact', () => {
  it('requires the API key', async () => {
    const id = '00000000-0000-4000-8000-000000000000';
    const response = await fetch(`${server.url}/v1/predictions/${id}/scan.nii.gz`);
    expect(response.status).toBe(401);
  });

  it('is int16 NIfTI on the input grid', async () => {
    const form = new FormData();
    const subject = DEMO_SUBJECT.subject;
    form.append('age', String(subject.ageYears));
    form.append('sex', subject.sex);
    form.append('height', String(subject.heightCm));
    form.append('weight', String(subject.weightKg));
    form.append('scan', new Blob([readFileSync(DEMO_SCAN)]), 'scan.nii.gz');
    const posted = await fetch(`${server.url}/v1/predictions`, {
      method: 'POST',
      body: form,
      ...authorized(),
    });
    expect(posted.status).toBe(202);
    const { id } = await posted.json();
    let job: Record<string, any> = {};
    for (let attempt = 0; attempt < 600 && !['done', 'failed'].includes(job.state); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      job = await (await fetch(`${server.url}/v1/predictions/${id}`, authorized())).json();
    }
    expect(job.state, JSON.stringify(job.error)).toBe('done');

    const response = await fetch(`${server.url}/v1/predictions/${id}/scan.nii.gz`, authorized());
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/gzip');
    const header = gunzipSync(Buffer.from(await response.arrayBuffer()));
    expect(header.readInt32LE(0)).toBe(348);
    const dims = [1, 2, 3].map((axis) => header.readInt16LE(40 + 2 * axis));
    expect(dims).toEqual(job.result.input.size);
    // NIfTI-1 datatype 4 is signed 16-bit integer.
    expect(header.readInt16LE(70)).toBe(4);
  }, 240_000);
});

describe('docs page', () => {
  it('renders every operation of openapi.json', async () => {
    const document = await (await fetch(`${server.url}/openapi.json`)).json();
    const expected: string[] = [];
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const method of Object.keys(operations as object)) {
        expected.push(`${method.toUpperCase()} ${path}`);
      }
    }

    const { page, record } = await openPage('/docs');
    await page.waitForSelector('.opblock', { timeout: 60_000 });
    const rendered = await page.$$eval('.opblock-summary', (summaries) =>
      summaries.map((summary) => {
        const method = summary.querySelector('.opblock-summary-method')?.textContent ?? '';
        const path = summary.querySelector('.opblock-summary-path')?.getAttribute('data-path');
        return `${method} ${path}`;
      }),
    );
    expect(rendered.sort()).toEqual(expected.sort());
    expect(await page.textContent('.info .title')).toContain(document.info.title);
    await page.screenshot({ path: join(workDir, 'docs-page.png') });
    expect(record.offHostRequests).toEqual([]);
    expect(record.consoleErrors).toEqual([]);
    await page.close();

    const response = await fetch(`${server.url}/docs`);
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
  });
});

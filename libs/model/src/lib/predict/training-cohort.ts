/**
 * Reads the model card's description of the training data: what kind of data it was, the
 * acquisition range the model saw, and the held-out metrics that show how far to trust an estimate.
 */

/** Relative margin around the training acquisition range before a scan counts as different. */
const ACQUISITION_MARGIN = 0.1;

interface NumericRange {
  min: number;
  max: number;
}

/** Kind of data the model was trained on, as `trainingCohort.source` records it. */
interface CohortSource {
  kind?: unknown;
  generator?: unknown;
  realPatients?: unknown;
}

/** Acquisition settings of the training scans, as `trainingCohort.acquisition` records them. */
interface CohortAcquisition {
  scannerProfiles?: unknown;
  kernels?: unknown;
  sliceThicknessMm?: unknown;
  pixelSpacingMm?: unknown;
}

interface CohortShape {
  source?: CohortSource;
  acquisition?: CohortAcquisition;
  note?: unknown;
  train?: { scans?: unknown; subjects?: unknown };
}

/** Held-out figures of one split, copied from the model card's `metrics`. */
export interface HeldOutSplitMetrics {
  n: number | null;
  /** Share of held-out scans whose measured DLCO fell inside the nominal 95 % interval. */
  coverage95: number | null;
  modelMaeMlMinMmHg: number | null;
  baselineMaeMlMinMmHg: number | null;
}

/** Held-out metrics per split (`test`, `val`) that the card reports. */
export type HeldOutMetrics = Partial<Record<'test' | 'val', HeldOutSplitMetrics>>;

/** Geometry of the scan as given: voxel spacing and row-major LPS direction cosines. */
export interface ScanGeometry {
  spacingMm: ArrayLike<number>;
  direction: ArrayLike<number>;
}

function numberOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

function range(value: unknown): NumericRange | null {
  const { min, max } = (value ?? {}) as { min?: unknown; max?: unknown };
  const low = numberOrNull(min);
  const high = numberOrNull(max);
  return low === null || high === null ? null : { min: low, max: high };
}

function formatMm(value: number): string {
  return `${Number(value.toPrecision(3))} mm`;
}

function formatRange(value: NumericRange): string {
  return value.min === value.max
    ? formatMm(value.min)
    : `${formatMm(value.min)} to ${formatMm(value.max)}`;
}

/**
 * Summarises the card's training data in one line, for the result and the CLI: how many scans,
 * whether they were simulated or real, and the scanner profiles and slice thickness they had.
 */
export function describeTrainingCohort(cohort: unknown): string {
  const splits = cohort as CohortShape | null;
  const train = splits?.train;
  if (train === undefined || typeof train.scans !== 'number') {
    return 'not described in the model card';
  }
  const note = typeof splits?.note === 'string' ? ` (${splits.note})` : '';
  const source = splits?.source;
  const kind = typeof source?.kind === 'string' ? source.kind : null;
  if (kind === null) {
    return (
      `${train.scans} training scans of ${String(train.subjects ?? 'unknown')} subjects` +
      `${note}; the model card does not say whether they were real or simulated`
    );
  }

  const details: string[] = [];
  if (typeof source?.generator === 'string') details.push(source.generator);
  const profiles = stringList(splits?.acquisition?.scannerProfiles);
  if (profiles.length > 0) {
    const count = profiles.length === 1 ? 'one scanner profile' : `${profiles.length} scanner profiles`;
    details.push(`${count}: ${profiles.join(', ')}`);
  }
  const thickness = range(splits?.acquisition?.sliceThicknessMm);
  if (thickness !== null) details.push(`${formatRange(thickness)} slices`);
  const detailText = details.length > 0 ? ` (${details.join(', ')})` : '';
  const patients =
    source?.realPatients === false
      ? ', no real patients'
      : ` of ${String(train.subjects ?? 'unknown')} subjects`;
  return `${train.scans} ${kind} scans${detailText}${patients}${note}`;
}

/**
 * Warns when the scan's slice spacing or in-plane pixel spacing lies outside the training scans'
 * range (with a 10 % margin), because the estimate is less reliable on such scans.
 *
 * The slice axis is the voxel axis closest to the patient's superior direction. The check uses
 * voxel spacing because the reconstructed slice thickness and kernel are not read from the scan.
 */
export function acquisitionWarnings(cohort: unknown, geometry: ScanGeometry): string[] {
  const acquisition = (cohort as CohortShape | null)?.acquisition;
  if (acquisition === undefined) {
    return [
      'The model card does not record the acquisition range of the training scans, so the ' +
        'scan was not checked against it.',
    ];
  }
  const sliceAxis = slicePerpendicularAxis(geometry.direction);
  const inPlane = [0, 1, 2].filter((axis) => axis !== sliceAxis).map((a) => geometry.spacingMm[a]);
  const profiles = stringList(acquisition.scannerProfiles);
  const seen = profiles.length > 0 ? ` (scanner profile ${profiles.join(', ')})` : '';
  const warnings: string[] = [];

  const thickness = range(acquisition.sliceThicknessMm);
  const slice = geometry.spacingMm[sliceAxis];
  if (thickness !== null && outside(slice, thickness)) {
    warnings.push(
      `The scan differs from the training data in slice spacing: ${formatMm(slice)}, against ` +
        `${formatRange(thickness)} in every training scan${seen}. The estimate is less reliable.`,
    );
  }
  const pixel = range(acquisition.pixelSpacingMm);
  const outsidePixel = inPlane.filter((value) => pixel !== null && outside(value, pixel));
  if (pixel !== null && outsidePixel.length > 0) {
    warnings.push(
      `The scan differs from the training data in pixel spacing: ` +
        `${inPlane.map(formatMm).join(' × ')}, against ${formatRange(pixel)} in every training ` +
        `scan${seen}. The estimate is less reliable.`,
    );
  }
  return warnings;
}

function outside(value: number, allowed: NumericRange): boolean {
  return (
    value < allowed.min * (1 - ACQUISITION_MARGIN) || value > allowed.max * (1 + ACQUISITION_MARGIN)
  );
}

/** Returns the voxel axis whose direction has the largest superior (LPS z) component. */
function slicePerpendicularAxis(direction: ArrayLike<number>): number {
  let best = 2;
  let bestComponent = -1;
  for (let axis = 0; axis < 3; axis += 1) {
    const component = Math.abs(direction[6 + axis] ?? 0);
    if (component > bestComponent) {
      best = axis;
      bestComponent = component;
    }
  }
  return best;
}

/** Copies the held-out coverage and MAEs of the model and the baseline from the card's metrics. */
export function heldOutMetrics(metrics: unknown): HeldOutMetrics | null {
  const result: HeldOutMetrics = {};
  for (const split of ['test', 'val'] as const) {
    const entry = (metrics as Record<string, unknown> | null)?.[split] as
      | { model?: Record<string, unknown>; baseline?: Record<string, unknown> }
      | undefined;
    if (entry?.model === undefined) continue;
    result[split] = {
      n: numberOrNull(entry.model.n),
      coverage95: numberOrNull(entry.model.coverage95),
      modelMaeMlMinMmHg: numberOrNull(entry.model.mae),
      baselineMaeMlMinMmHg: numberOrNull(entry.baseline?.mae),
    };
  }
  return Object.keys(result).length > 0 ? result : null;
}

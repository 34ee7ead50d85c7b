import { InputError } from '../errors.ts';
import { silentLogger, type Logger } from '../logger.ts';
import { LUNG_LABELS, PADDING_THRESHOLD_HU, type LabelVolume, type Volume } from '../volume.ts';
import { geometryOf } from '../geometry/grid-geometry.ts';
import type { WorkingGrid } from '../geometry/working-grid.ts';
import { isIdentityDirection } from '../geometry/canonical.ts';
import { traceAirway, widenAirway } from './airway.ts';
import { bodyInterior } from './body-interior.ts';
import { assessCoverage, type LungCoverage } from './coverage.ts';
import { separateLungs, type SeparationMethod } from './lung-separation.ts';
import { smoothLungs } from './smoothing.ts';
import { reversedSliceOrderWarning } from './slice-order.ts';
import {
  componentsBySize,
  connectedComponents,
  type Size3,
  type Spacing3,
} from './morphology.ts';

/** Options of `segmentLungs`. */
export interface SegmentLungsOptions {
  /** 1 inside the field of view, on the same grid; derived from padding values when omitted. */
  fovMask?: Uint8Array;
  /** Voxels below this are air, in HU (default -400). */
  airThresholdHu?: number;
  /** Voxels above this are body tissue when outside air is flooded, in HU (default -500). */
  tissueThresholdHu?: number;
  /**
   * Radius of the closing that pulls vessels and juxtapleural nodules into the lung, in mm (default
   * 10).
   */
  closingRadiusMm?: number;
  /**
   * Body interior and air inside it, computed ahead (see `BodyInteriorSlices`) from the same
   * field-of-view mask and thresholds. `air` is changed in place.
   */
  bodyAndAir?: { interior: Uint8Array; air: Uint8Array };
  logger?: Logger;
}

/** Default `SegmentLungsOptions.airThresholdHu`. */
export const DEFAULT_AIR_THRESHOLD_HU = -400;
/** Default `SegmentLungsOptions.tissueThresholdHu`. */
export const DEFAULT_TISSUE_THRESHOLD_HU = -500;

/** Result of `segmentLungs`, on the working grid it was given. */
export interface LungSegmentation {
  /** `LUNG_LABELS.right` (1), `LUNG_LABELS.left` (2) or background (0). */
  labels: LabelVolume;
  /** Trachea and bronchi removed from the lungs, 1 inside; all 0 when no trachea was found. */
  airway: Uint8Array;
  coverage: LungCoverage;
  /** Coverage warnings and steps that could not run (such as a missing trachea). */
  warnings: string[];
  volumesMl: { right: number; left: number; total: number };
  separation: SeparationMethod;
}

/** Air components smaller than this share of the largest are not lung (bowel gas, noise). */
const MIN_LUNG_COMPONENT_SHARE = 0.3;
/** Less air than this inside the body means no lungs were found, in mL. */
const MIN_AIR_VOLUME_ML = 100;

/**
 * Segments the lungs of a CT on the working grid with classical image processing.
 *
 * Steps: flood outside air from the slice edges (`bodyInterior`) and threshold air below
 * `airThresholdHu` inside the body. Keep the largest air component and any other holding at
 * least 30 % of it. Remove the trachea and main bronchi traced from the top (`traceAirway`),
 * widened by a Euclidean ball of one voxel (of the source scan when it is coarser than the working
 * grid) to take the partial-volume voxels of the airway wall. Then split right
 * from left (`separateLungs`) and close each lung (`smoothLungs`).
 *
 * @param input CT on an isotropic working grid with identity direction, in HU, or the
 *   `WorkingGrid` from `resampleToWorkingGrid` (whose `fovMask` is then used).
 * @throws InputError `LUNGS_NOT_FOUND` when less than 100 mL of air lies inside the body, and
 *   RangeError when the volume's direction is not the identity.
 * @example
 * const grid = resampleToWorkingGrid(scan, 2);
 * const { labels, coverage } = segmentLungs(grid);
 */
export function segmentLungs(
  input: Volume | WorkingGrid,
  options: SegmentLungsOptions = {},
): LungSegmentation {
  const working = 'fovMask' in input ? input.volume : input;
  if (!isIdentityDirection(working.direction)) {
    throw new RangeError(
      'segmentLungs needs a volume with identity direction (LPS axes, z superior). ' +
        'Resample the scan with resampleToWorkingGrid first.',
    );
  }
  const gridFovMask = 'fovMask' in input ? input.fovMask : undefined;
  const sourceSpacing = 'fovMask' in input ? input.source.spacingMm : working.spacingMm;
  const logger = options.logger ?? silentLogger;
  let stepStart = performance.now();
  const logStep = (step: string, fields: Record<string, unknown> = {}) => {
    const now = performance.now();
    logger.debug(
      { step, elapsedMs: Math.round(now - stepStart), ...fields },
      `Lung segmentation step ${step} done`,
    );
    stepStart = now;
  };
  const size = working.size;
  const spacing = working.spacingMm;
  const fovMask = options.fovMask ?? gridFovMask ?? deriveFovMask(working);
  const warnings: string[] = [];
  const tissueThresholdHu = options.tissueThresholdHu ?? DEFAULT_TISSUE_THRESHOLD_HU;
  const airThresholdHu = options.airThresholdHu ?? DEFAULT_AIR_THRESHOLD_HU;
  const interior =
    options.bodyAndAir?.interior ?? bodyInterior(working, fovMask, tissueThresholdHu);
  const air = options.bodyAndAir?.air ?? airInsideBody(working, fovMask, interior, airThresholdHu);
  keepLargestAir(working, air);
  logStep('body-and-air');

  const trace = traceAirway(working, air);
  // Checked before the airway is cut out of `air`, which the check traces again.
  const sliceOrderWarning = reversedSliceOrderWarning(working, air, trace);
  if (sliceOrderWarning !== undefined) warnings.push(sliceOrderWarning);
  let airway: Uint8Array = new Uint8Array(air.length);
  if (trace) {
    airway = widenAirway(trace.mask, size, spacing, airwayWallMm(spacing, sourceSpacing));
    for (let n = 0; n < air.length; n++) if (airway[n]) air[n] = 0;
    logStep('airway', {
      volumeMl: trace.volumeMl,
      seedSlice: trace.seedSlice,
      lumenThresholdHu: trace.lumenThresholdHu,
    });
  } else {
    warnings.push(
      'No trachea found at the top of the scan, so the airway was not removed from the lungs.',
    );
  }

  const separated = separateLungs(air, size, spacing, midlineIndex(interior, size));
  logStep('separation', { method: separated.method });
  const labelData = smoothLungs(separated.labels, size, spacing, {
    radiusMm: options.closingRadiusMm ?? 10,
    allowed: (n) => interior[n] === 1 && airway[n] === 0,
  });
  logStep('smoothing');
  const labels: LabelVolume = { ...geometryOf(working), data: labelData };
  const coverage = assessCoverage(labels, fovMask);
  const volumesMl = lungVolumes(labels);
  warnings.push(...coverage.warnings);
  logger.info(
    { ...volumesMl, separation: separated.method, complete: coverage.complete },
    'Segmented the lungs',
  );
  return { labels, airway, coverage, warnings, volumesMl, separation: separated.method };
}

/**
 * Returns how far the removed airway reaches beyond the traced lumen, in mm. That is one voxel of
 * the working grid, or one in-plane voxel of the source scan when that is coarser, because partial
 * volume blurs the airway wall over about one source voxel.
 */
function airwayWallMm(spacingMm: Spacing3, sourceSpacingMm: ArrayLike<number>): number {
  return Math.max(...spacingMm, sourceSpacingMm[0], sourceSpacingMm[1]);
}

function deriveFovMask(volume: Volume): Uint8Array {
  const mask = new Uint8Array(volume.data.length);
  for (let n = 0; n < mask.length; n++) mask[n] = volume.data[n] >= PADDING_THRESHOLD_HU ? 1 : 0;
  return mask;
}

/** Returns 1 where a voxel is inside the body and the field of view and below `thresholdHu`. */
function airInsideBody(
  volume: Volume,
  fovMask: Uint8Array,
  interior: Uint8Array,
  thresholdHu: number,
): Uint8Array {
  const air = new Uint8Array(volume.data.length);
  for (let n = 0; n < air.length; n++) {
    air[n] = interior[n] && fovMask[n] && volume.data[n] < thresholdHu ? 1 : 0;
  }
  return air;
}

/**
 * Keeps, in place, the air that belongs to the largest air components.
 *
 * @throws InputError `LUNGS_NOT_FOUND` when the largest component is below 100 mL.
 */
function keepLargestAir(volume: Volume, air: Uint8Array): void {
  const components = connectedComponents(air, volume.size);
  const order = componentsBySize(components);
  const voxelMl = (volume.spacingMm[0] * volume.spacingMm[1] * volume.spacingMm[2]) / 1000;
  const largest = order.length ? components.sizes[order[0] - 1] : 0;
  if (largest * voxelMl < MIN_AIR_VOLUME_ML) {
    throw new InputError(
      'LUNGS_NOT_FOUND',
      `No lungs found: the largest air region inside the body contains ${(largest * voxelMl).toFixed(0)} mL, ` +
        `below ${MIN_AIR_VOLUME_ML} mL. Check that the scan is a chest CT in HU.`,
      { largestAirMl: largest * voxelMl },
    );
  }
  const keep = new Uint8Array(order.length + 1);
  for (const c of order)
    if (components.sizes[c - 1] >= MIN_LUNG_COMPONENT_SHARE * largest) keep[c] = 1;
  for (let n = 0; n < air.length; n++) air[n] = keep[components.labels[n]];
}

/** Returns the mean i index of the body interior, used as the left-right midline. */
function midlineIndex(interior: Uint8Array, size: Size3): number {
  let sum = 0;
  let count = 0;
  const rowLength = size[0];
  for (let rowStart = 0; rowStart < interior.length; rowStart += rowLength) {
    for (let i = 0; i < rowLength; i++) {
      if (interior[rowStart + i]) {
        sum += i;
        count++;
      }
    }
  }
  return count ? sum / count : size[0] / 2;
}

function lungVolumes(labels: LabelVolume): { right: number; left: number; total: number } {
  let right = 0;
  let left = 0;
  const data = labels.data;
  for (let n = 0; n < data.length; n++) {
    const value = data[n];
    if (value === LUNG_LABELS.right) right++;
    else if (value === LUNG_LABELS.left) left++;
  }
  const voxelMl = (labels.spacingMm[0] * labels.spacingMm[1] * labels.spacingMm[2]) / 1000;
  return { right: right * voxelMl, left: left * voxelMl, total: (right + left) * voxelMl };
}

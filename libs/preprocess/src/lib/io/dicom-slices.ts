import path from 'node:path';

import { InputError } from '../errors.ts';
import { readPixelDataBytes, type DicomHeader } from './dicom-header.ts';

/** Slices in ascending order along the slice normal, with what the reader must do to them. */
export interface SliceStack {
  slices: DicomHeader[];
  /** Position of each slice along the slice normal (row × column cosines), in mm. */
  positionsMm: number[];
  /** Whether slice distances vary enough that the volume must be resampled to even spacing. */
  needsResampling: boolean;
  warnings: string[];
}

/** Slices closer than this along the normal share one position, in mm. */
const SAME_POSITION_MM = 0.01;

/** A gap of at least this many median slice distances means slices are missing. */
export const MISSING_SLICE_GAP_FACTOR = 1.5;

/**
 * Largest angle between the slice stacking axis and the slice normal, in degrees. Over a
 * 400 mm scan, 0.1° moves the last slice 0.7 mm sideways, under one voxel of chest CT.
 */
export const MAX_TILT_DEGREES = 0.1;

/**
 * Largest deviation from an evenly spaced grid, as a fraction of the slice distance, that still
 * counts as even. It absorbs the rounding of ImagePositionPatient strings.
 */
const EVEN_POSITION_TOLERANCE = 0.01;

function sliceNormal(orientation: number[] | undefined): number[] | undefined {
  if (orientation?.length !== 6) return undefined;
  const [r0, r1, r2, c0, c1, c2] = orientation;
  const normal = [r1 * c2 - r2 * c1, r2 * c0 - r0 * c2, r0 * c1 - r1 * c0];
  const length = Math.hypot(...normal);
  return length > 0.5 ? normal.map((value) => value / length) : undefined;
}

const dot = (a: readonly number[], b: readonly number[]) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];

/**
 * Sorts the slices of one series along the slice normal and validates their positions: drops
 * identical duplicates, and rejects conflicting duplicates, gantry tilt, missing slices and
 * spacing that varies by more than `unevenSpacingTolerance` (a fraction of the median slice
 * distance).
 *
 * @throws InputError `INPUT_CORRUPT` (no position or orientation), `DICOM_DUPLICATE_POSITION`,
 *   `DICOM_GANTRY_TILT`, `DICOM_MISSING_SLICES` or `DICOM_UNEVEN_SPACING`.
 */
export async function stackSlices(
  root: string,
  slices: DicomHeader[],
  unevenSpacingTolerance: number,
): Promise<SliceStack> {
  const normal = sliceNormal(slices[0].orientation);
  const unplaced = slices.find((slice) => slice.positionMm === undefined);
  if (normal === undefined || unplaced !== undefined) {
    const file = path.relative(root, (unplaced ?? slices[0]).file);
    throw new InputError(
      'INPUT_CORRUPT',
      `DICOM file ${file} lacks a valid ImagePositionPatient or ImageOrientationPatient, so ` +
        'the slices cannot be placed. Export the series with its geometry.',
      { file },
    );
  }
  const placed = slices
    .map((slice) => ({ slice, position: dot(slice.positionMm!, normal) }))
    .sort((a, b) => a.position - b.position);

  const warnings: string[] = [];
  const unique = await dropDuplicates(root, placed, warnings);
  const positionsMm = unique.map((entry) => entry.position);
  const sorted = unique.map((entry) => entry.slice);
  if (sorted.length >= 2) {
    checkTilt(sorted, normal);
  }
  const needsResampling = checkSpacing(positionsMm, unevenSpacingTolerance, warnings);
  return { slices: sorted, positionsMm, needsResampling, warnings };
}

async function dropDuplicates(
  root: string,
  placed: Array<{ slice: DicomHeader; position: number }>,
  warnings: string[],
): Promise<Array<{ slice: DicomHeader; position: number }>> {
  const kept: Array<{ slice: DicomHeader; position: number }> = [];
  for (const entry of placed) {
    const previous = kept[kept.length - 1];
    if (previous === undefined || entry.position - previous.position >= SAME_POSITION_MM) {
      kept.push(entry);
      continue;
    }
    const [first, second] = await Promise.all([
      readPixelDataBytes(previous.slice.file),
      readPixelDataBytes(entry.slice.file),
    ]);
    const files = [previous.slice.file, entry.slice.file].map((file) => path.relative(root, file));
    if (!first.equals(second)) {
      throw new InputError(
        'DICOM_DUPLICATE_POSITION',
        `DICOM files ${files[0]} and ${files[1]} share the slice position ` +
          `${entry.position.toFixed(3)} mm but hold different pixels. Remove the file that ` +
          'does not belong to the series.',
        { files, positionMm: entry.position },
      );
    }
    warnings.push(
      `Dropped ${files[1]}: an identical copy of ${files[0]} at ${entry.position.toFixed(3)} mm.`,
    );
  }
  return kept;
}

/** Rejects slices whose positions drift sideways from the slice normal (gantry tilt). */
function checkTilt(slices: DicomHeader[], normal: number[]): void {
  const first = slices[0].positionMm!;
  let maxDegrees = 0;
  for (const slice of slices.slice(1)) {
    const offset = slice.positionMm!.map((value, axis) => value - first[axis]);
    const along = Math.abs(dot(offset, normal));
    const sideways = Math.sqrt(Math.max(0, dot(offset, offset) - along * along));
    maxDegrees = Math.max(maxDegrees, (Math.atan2(sideways, along) * 180) / Math.PI);
  }
  if (maxDegrees > MAX_TILT_DEGREES) {
    throw new InputError(
      'DICOM_GANTRY_TILT',
      `The slices are tilted by ${maxDegrees.toFixed(2)}° from the slice normal (gantry tilt, ` +
        `limit ${MAX_TILT_DEGREES}°), so stacking them as an orthogonal volume would shear the ` +
        'anatomy. Reconstruct the series without gantry tilt or correct the tilt first.',
      { tiltDegrees: maxDegrees, maxTiltDegrees: MAX_TILT_DEGREES },
    );
  }
}

/**
 * Rejects gaps and uneven spacing beyond the tolerance, and returns whether the positions
 * deviate from an even grid enough to need resampling.
 */
function checkSpacing(positionsMm: number[], tolerance: number, warnings: string[]): boolean {
  if (positionsMm.length < 2) return false;
  const distances = positionsMm.slice(1).map((value, index) => value - positionsMm[index]);
  const median = [...distances].sort((a, b) => a - b)[Math.floor(distances.length / 2)];

  const gapIndex = distances.findIndex((distance) => distance >= MISSING_SLICE_GAP_FACTOR * median);
  if (gapIndex >= 0) {
    const [from, to] = [positionsMm[gapIndex], positionsMm[gapIndex + 1]];
    const missing = Math.round((to - from) / median) - 1;
    throw new InputError(
      'DICOM_MISSING_SLICES',
      `Slices are missing between z = ${from.toFixed(2)} mm and z = ${to.toFixed(2)} mm (along ` +
        `the slice normal): a gap of ${(to - from).toFixed(2)} mm where slices are ` +
        `${median.toFixed(2)} mm apart, about ${missing} slice(s). Export the complete series.`,
      { fromMm: from, toMm: to, medianSpacingMm: median },
    );
  }

  const count = positionsMm.length;
  const evenStep = (positionsMm[count - 1] - positionsMm[0]) / (count - 1);
  const offGrid = Math.max(
    ...positionsMm.map((value, index) => Math.abs(value - (positionsMm[0] + index * evenStep))),
  );
  if (offGrid <= EVEN_POSITION_TOLERANCE * evenStep) return false;

  const deviation = Math.max(...distances.map((distance) => Math.abs(distance - median))) / median;
  if (deviation > tolerance) {
    throw new InputError(
      'DICOM_UNEVEN_SPACING',
      `Slice distances vary from ${Math.min(...distances).toFixed(3)} to ` +
        `${Math.max(...distances).toFixed(3)} mm, up to ${(deviation * 100).toFixed(1)}% from ` +
        `the median ${median.toFixed(3)} mm; the limit is ${(tolerance * 100).toFixed(1)}%. ` +
        'Reconstruct the series with even spacing, or raise unevenSpacingTolerance.',
      { deviation, tolerance, medianSpacingMm: median },
    );
  }
  warnings.push(
    `Slice distances vary by up to ${(deviation * 100).toFixed(1)}% from the median ` +
      `${median.toFixed(3)} mm (tolerance ${(tolerance * 100).toFixed(1)}%); resampled ` +
      `linearly to an even ${evenStep.toFixed(3)} mm along the slice normal.`,
  );
  return true;
}

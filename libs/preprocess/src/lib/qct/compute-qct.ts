import { LUNG_LABELS, type LabelVolume, type Volume } from '../volume.ts';
import { indexToIndex } from '../geometry/grid-geometry.ts';
import { axisOffsets } from '../geometry/axis-offsets.ts';
import { decodeZone, LUNG_THIRDS, ZONE_NAMES } from '../zones/zone-codes.ts';
import type { Zones } from '../zones/compute-zones.ts';
import {
  HISTOGRAM_BINS,
  HISTOGRAM_MAX_HU,
  HISTOGRAM_MIN_HU,
  metricsFromHistogram,
  type QctMetrics,
} from './histogram.ts';

/** One row of the QCT table: a lung region and its metrics. */
export interface QctRow extends QctMetrics {
  /** `whole`, `right`, `left`, `<side>-<third>`, `<side>-rind`, `<side>-core` or a zone name. */
  region: string;
}

/**
 * QCT metrics per lung region, measured on the HU grid given to `computeQct`. Empty regions hold
 * NaN.
 */
export type QctTable = {
  rows: QctRow[];
  /** Size and spacing (mm) of the HU grid the metrics were measured on. */
  measuredOn: { size: [number, number, number]; spacingMm: [number, number, number] };
};

/** Histogram slots: whole lung, right, left, then zone codes 1 to 12. */
const SLOT_WHOLE = 0;
const SLOT_ZONE_FIRST = 3;
const SLOTS = SLOT_ZONE_FIRST + 12;

/**
 * Measures lung volume, mean lung density, %LAA-950, Perc15 and %HAA (-600 to -250 HU inclusive),
 * the quantitative CT metrics of COPDGene and the Chest Imaging Platform, per whole lung, per lung
 * and per zone.
 *
 * Pass the scan at native resolution where possible: %LAA-950 and Perc15 depend on resolution,
 * because smoothing pulls low-attenuation voxels towards the mean. Each voxel of `volume` takes
 * the lung label and zone of the nearest voxel of `labels` and `zones`, which may lie on the
 * working grid. Voxels outside the field of view (padding) are not counted, and values above
 * 4095 HU count as 4095.
 *
 * @param volume HU on any grid covering the lungs (native is preferred).
 * @param labels Lung labels (`LUNG_LABELS`), usually on the working grid.
 * @param zones Zones on the same grid as `labels`, from `computeZones`.
 * @example
 * const table = computeQct(scan, segmentation.labels, computeZones(segmentation.labels));
 */
export function computeQct(
  volume: Volume,
  labels: LabelVolume,
  zones: Pick<Zones, 'zoneCodes'>,
): QctTable {
  if (zones.zoneCodes.length !== labels.data.length) {
    throw new RangeError(
      `zones have ${zones.zoneCodes.length} voxels but labels (${labels.size.join('x')}) ` +
        `have ${labels.data.length}. Compute the zones from these labels.`,
    );
  }
  const counts = accumulateHistograms(volume, labels, zones.zoneCodes);
  const voxelMl = (volume.spacingMm[0] * volume.spacingMm[1] * volume.spacingMm[2]) / 1000;
  const metrics = (slots: number[]) => {
    const merged = new Float64Array(HISTOGRAM_BINS);
    for (const slot of slots) {
      for (let b = 0; b < HISTOGRAM_BINS; b++) merged[b] += counts[slot * HISTOGRAM_BINS + b];
    }
    return metricsFromHistogram(merged, 0, voxelMl);
  };

  const rows: QctRow[] = [{ region: 'whole', ...metrics([SLOT_WHOLE]) }];
  for (const lung of [LUNG_LABELS.right, LUNG_LABELS.left])
    rows.push({ region: sideName(lung), ...metrics([lung]) });
  const zoneSlots = (predicate: (code: number) => boolean) =>
    Array.from({ length: 12 }, (_, n) => n + 1)
      .filter(predicate)
      .map((code) => SLOT_ZONE_FIRST + code - 1);
  for (const side of ['right', 'left'] as const) {
    for (const third of LUNG_THIRDS) {
      rows.push({
        region: `${side}-${third}`,
        ...metrics(zoneSlots((c) => matches(c, side, third))),
      });
    }
    for (const depth of ['rind', 'core'] as const) {
      rows.push({
        region: `${side}-${depth}`,
        ...metrics(zoneSlots((c) => matches(c, side, undefined, depth))),
      });
    }
  }
  for (let code = 1; code <= 12; code++)
    rows.push({ region: ZONE_NAMES[code], ...metrics([SLOT_ZONE_FIRST + code - 1]) });
  return { rows, measuredOn: { size: [...volume.size], spacingMm: [...volume.spacingMm] } };
}

function sideName(lung: number): string {
  return lung === LUNG_LABELS.right ? 'right' : 'left';
}

function matches(code: number, side: string, third?: string, depth?: string): boolean {
  const zone = decodeZone(code);
  return (
    !!zone &&
    zone.side === side &&
    (!third || zone.third === third) &&
    (!depth || zone.depth === depth)
  );
}

/**
 * Counts HU per slot, mapping every voxel of `volume` to the nearest voxel of `labels`. The
 * whole-lung slot is the sum of the right and left slots, because every counted voxel has one of
 * those two labels.
 */
function accumulateHistograms(
  volume: Volume,
  labels: LabelVolume,
  zoneData: Uint8Array,
): Float64Array {
  const counts = new Uint32Array(SLOTS * HISTOGRAM_BINS);
  const map = indexToIndex(volume, labels);
  const offsets = axisOffsets(map, volume.size, labels.size);
  if (offsets) {
    countAxisAligned(volume, labels, zoneData, offsets, alignedTargetAxis(map, 0), counts);
  } else {
    countOblique(volume, labels, zoneData, map, counts);
  }
  const whole = SLOT_WHOLE * HISTOGRAM_BINS;
  const right = LUNG_LABELS.right * HISTOGRAM_BINS;
  const left = LUNG_LABELS.left * HISTOGRAM_BINS;
  for (let bin = 0; bin < HISTOGRAM_BINS; bin++) {
    counts[whole + bin] = counts[right + bin] + counts[left + bin];
  }
  return Float64Array.from(counts);
}

/**
 * Returns the label axis that native axis `axis` runs along. Valid only for a map that
 * `axisOffsets` accepted, which is a scaled, signed axis permutation.
 */
function alignedTargetAxis(map: ReturnType<typeof indexToIndex>, axis: number): number {
  const m = map.matrix;
  let best = 0;
  for (let r = 1; r < 3; r++) {
    if (Math.abs(m[3 * r + axis]) > Math.abs(m[3 * best + axis])) best = r;
  }
  return best;
}

/**
 * Counts the voxels of axis-aligned grids. Along native axis 0, consecutive native voxels share
 * the same nearest label voxel, so each run of them is looked up once. Native axis 0 runs along
 * label axis `lineAxis` (not label axis 0 when the scan is stored with permuted axes), and rows
 * whose label line along `lineAxis` contains no lung are skipped without reading their HU.
 */
function countAxisAligned(
  volume: Volume,
  labels: LabelVolume,
  zoneData: Uint8Array,
  offsets: [Int32Array, Int32Array, Int32Array],
  lineAxis: number,
  counts: Uint32Array,
): void {
  const [x, y, z] = offsets;
  const [r0, r1, r2] = volume.size;
  const data = volume.data;
  const labelData = labels.data;
  // Runs of i with the same x offset: run r covers i in [runStart[r], runStart[r + 1]).
  const runStart: number[] = [];
  const runOffset: number[] = [];
  for (let i = 0; i < r0; i++) {
    if (i === 0 || x[i] !== x[i - 1]) {
      runStart.push(i);
      runOffset.push(x[i]);
    }
  }
  runStart.push(r0);
  const runs = runOffset.length;

  const lineHasLung = labelLinesWithLung(labels, lineAxis);
  // Label offsets of a step along lineAxis, and of a whole line along it.
  const lineStride = [1, labels.size[0], labels.size[0] * labels.size[1]][lineAxis];
  const lineSpan = lineStride * labels.size[lineAxis];
  for (let k = 0; k < r2; k++) {
    if (z[k] < 0) continue;
    for (let j = 0; j < r1; j++) {
      if (y[j] < 0) continue;
      // The offsets of native axes 1 and 2 leave the coordinate along lineAxis at 0, so this
      // offset picks one label line along lineAxis.
      const rowOffset = z[k] + y[j];
      const line = (rowOffset % lineStride) + Math.floor(rowOffset / lineSpan) * lineStride;
      if (!lineHasLung[line]) continue;

      const rowBase = r0 * (j + r1 * k);
      for (let run = 0; run < runs; run++) {
        if (runOffset[run] < 0) continue;
        const target = rowOffset + runOffset[run];
        const lung = labelData[target];
        if (lung !== LUNG_LABELS.right && lung !== LUNG_LABELS.left) continue;
        const lungSlot = lung * HISTOGRAM_BINS - HISTOGRAM_MIN_HU;
        const zone = zoneData[target];
        const zoneSlot = zone
          ? (SLOT_ZONE_FIRST + zone - 1) * HISTOGRAM_BINS - HISTOGRAM_MIN_HU
          : -1;
        for (let n = rowBase + runStart[run]; n < rowBase + runStart[run + 1]; n++) {
          const hu = data[n];
          if (hu < HISTOGRAM_MIN_HU) continue;
          const clamped = hu > HISTOGRAM_MAX_HU ? HISTOGRAM_MAX_HU : hu;
          counts[lungSlot + clamped]++;
          if (zoneSlot >= 0) counts[zoneSlot + clamped]++;
        }
      }
    }
  }
}

/**
 * Flags the lines along `axis` of `labels` that contain a right or left lung voxel. The line
 * through label offset n has index `(n % stride) + floor(n / (stride * size[axis])) * stride`,
 * where `stride` is the offset of one step along `axis`.
 */
function labelLinesWithLung(labels: LabelVolume, axis: number): Uint8Array {
  const [n0, n1, n2] = labels.size;
  const flags = new Uint8Array((n0 * n1 * n2) / labels.size[axis]);
  let n = 0;
  for (let c = 0; c < n2; c++) {
    for (let b = 0; b < n1; b++) {
      for (let a = 0; a < n0; a++, n++) {
        const lung = labels.data[n];
        if (lung !== LUNG_LABELS.right && lung !== LUNG_LABELS.left) continue;
        if (axis === 0) flags[b + n1 * c] = 1;
        else if (axis === 1) flags[a + n0 * c] = 1;
        else flags[a + n0 * b] = 1;
      }
    }
  }
  return flags;
}

/** Counts the voxels of grids that are rotated against each other, with an affine per voxel. */
function countOblique(
  volume: Volume,
  labels: LabelVolume,
  zoneData: Uint8Array,
  map: ReturnType<typeof indexToIndex>,
  counts: Uint32Array,
): void {
  const data = volume.data;
  const m = map.matrix;
  const [r0, r1, r2] = volume.size;
  const [n0, n1, n2] = labels.size;
  let n = 0;
  for (let k = 0; k < r2; k++) {
    for (let j = 0; j < r1; j++) {
      let x = m[1] * j + m[2] * k + map.offset[0] + 0.5;
      let y = m[4] * j + m[5] * k + map.offset[1] + 0.5;
      let z = m[7] * j + m[8] * k + map.offset[2] + 0.5;
      for (let i = 0; i < r0; i++, n++, x += m[0], y += m[3], z += m[6]) {
        if (x < 0 || y < 0 || z < 0 || x >= n0 || y >= n1 || z >= n2) continue;
        const target = (x | 0) + n0 * (y | 0) + n0 * n1 * (z | 0);
        const lung = labels.data[target];
        if (lung !== LUNG_LABELS.right && lung !== LUNG_LABELS.left) continue;
        const hu = data[n];
        if (hu < HISTOGRAM_MIN_HU) continue;
        const bin = (hu > HISTOGRAM_MAX_HU ? HISTOGRAM_MAX_HU : hu) - HISTOGRAM_MIN_HU;
        counts[lung * HISTOGRAM_BINS + bin]++;
        const zone = zoneData[target];
        if (zone) counts[(SLOT_ZONE_FIRST + zone - 1) * HISTOGRAM_BINS + bin]++;
      }
    }
  }
}

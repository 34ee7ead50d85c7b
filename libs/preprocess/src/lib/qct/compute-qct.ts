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

/** Counts HU per slot, mapping every voxel of `volume` to the nearest voxel of `labels`. */
function accumulateHistograms(
  volume: Volume,
  labels: LabelVolume,
  zoneData: Uint8Array,
): Float64Array {
  const counts = new Float64Array(SLOTS * HISTOGRAM_BINS);
  const data = volume.data;
  const count = (n: number, target: number) => {
    const lung = labels.data[target];
    if (lung !== LUNG_LABELS.right && lung !== LUNG_LABELS.left) return;
    const hu = data[n];
    if (hu < HISTOGRAM_MIN_HU) return;
    const bin = (hu > HISTOGRAM_MAX_HU ? HISTOGRAM_MAX_HU : hu) - HISTOGRAM_MIN_HU;
    counts[SLOT_WHOLE * HISTOGRAM_BINS + bin]++;
    counts[lung * HISTOGRAM_BINS + bin]++;
    const zone = zoneData[target];
    if (zone) counts[(SLOT_ZONE_FIRST + zone - 1) * HISTOGRAM_BINS + bin]++;
  };

  const map = indexToIndex(volume, labels);
  const [r0, r1, r2] = volume.size;
  const offsets = axisOffsets(map, volume.size, labels.size);
  let n = 0;
  if (offsets) {
    // Axis-aligned grids: three table lookups per voxel instead of an affine map.
    const [x, y, z] = offsets;
    for (let k = 0; k < r2; k++) {
      for (let j = 0; j < r1; j++, n += r0) {
        if (z[k] < 0 || y[j] < 0) continue;
        const rowOffset = z[k] + y[j];
        for (let i = 0; i < r0; i++) if (x[i] >= 0) count(n + i, rowOffset + x[i]);
      }
    }
    return counts;
  }
  const m = map.matrix;
  const [n0, n1, n2] = labels.size;
  for (let k = 0; k < r2; k++) {
    for (let j = 0; j < r1; j++) {
      let x = m[1] * j + m[2] * k + map.offset[0] + 0.5;
      let y = m[4] * j + m[5] * k + map.offset[1] + 0.5;
      let z = m[7] * j + m[8] * k + map.offset[2] + 0.5;
      for (let i = 0; i < r0; i++, n++, x += m[0], y += m[3], z += m[6]) {
        if (x < 0 || y < 0 || z < 0 || x >= n0 || y >= n1 || z >= n2) continue;
        count(n, (x | 0) + n0 * (y | 0) + n0 * n1 * (z | 0));
      }
    }
  }
  return counts;
}

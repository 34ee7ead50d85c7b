import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { LUNG_LABELS, type LabelVolume } from '../volume.ts';
import { resampleLabelsToReference, resampleToWorkingGrid } from '../geometry/index.ts';
import { segmentLungs } from '../segmentation/segment-lungs.ts';
import { readScan } from '../io/read-scan.ts';
import { readLabelMapForTests, REAL_DATA_DIR } from '../testing/read-nrrd-for-tests.ts';
import { computeZones } from './compute-zones.ts';
import { decodeZone, ZONE_NAMES, zoneCode } from './zone-codes.ts';

const CIP = path.join(REAL_DATA_DIR, 'cip-ct64');
/** Chest Imaging Platform regions of the upper, middle and lower thirds, per lung. */
const CIP_THIRDS = { [LUNG_LABELS.right]: [12, 13, 14], [LUNG_LABELS.left]: [9, 10, 11] };

function boxLabels(size: number, margin: number): LabelVolume {
  const data = new Uint8Array(size ** 3);
  for (let k = margin; k < size - margin; k++) {
    for (let j = margin; j < size - margin; j++) {
      for (let i = margin; i < size - margin; i++)
        data[i + size * (j + size * k)] = LUNG_LABELS.right;
    }
  }
  const direction = Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1);
  return { size: [size, size, size], spacingMm: [2, 2, 2], originMm: [0, 0, 0], direction, data };
}

/** Per-third Dice and voxel agreement between zone codes and the reference thirds. */
function compareThirds(
  zoneCodes: Uint8Array,
  regions: Uint16Array,
): { dice: number[]; agreement: number } {
  const dice: number[] = [];
  let agree = 0;
  let compared = 0;
  for (const lung of [LUNG_LABELS.right, LUNG_LABELS.left]) {
    for (let third = 0; third < 3; third++) {
      const region = CIP_THIRDS[lung][third];
      let both = 0;
      let ours = 0;
      let theirs = 0;
      for (let n = 0; n < zoneCodes.length; n++) {
        const zone = decodeZone(zoneCodes[n]);
        const isOurs =
          !!zone &&
          zone.side === (lung === LUNG_LABELS.right ? 'right' : 'left') &&
          zone.third === ['upper', 'middle', 'lower'][third];
        const isTheirs = (regions[n] & 0xff) === region;
        if (isOurs) ours++;
        if (isTheirs) theirs++;
        if (isOurs && isTheirs) both++;
      }
      dice.push((2 * both) / (ours + theirs));
    }
  }
  for (let n = 0; n < zoneCodes.length; n++) {
    const region = regions[n] & 0xff;
    if (!zoneCodes[n] || region < 9 || region > 14) continue;
    const zone = decodeZone(zoneCodes[n])!;
    const lung = zone.side === 'right' ? LUNG_LABELS.right : LUNG_LABELS.left;
    compared++;
    if (CIP_THIRDS[lung][['upper', 'middle', 'lower'].indexOf(zone.third)] === region) agree++;
  }
  return { dice, agreement: agree / compared };
}

describe('zone codes', () => {
  it('round-trips every code through its name', () => {
    for (let code = 1; code <= 12; code++) {
      const zone = decodeZone(code)!;
      const lung = zone.side === 'right' ? LUNG_LABELS.right : LUNG_LABELS.left;
      expect(
        zoneCode(lung, ['upper', 'middle', 'lower'].indexOf(zone.third), zone.depth === 'core'),
      ).toBe(code);
      expect(ZONE_NAMES[code]).toBe(`${zone.side}-${zone.third}-${zone.depth}`);
    }
  });

  it('decodes 0 as outside the lungs', () => {
    expect(decodeZone(0)).toBeUndefined();
  });
});

describe('computeZones', () => {
  it('makes a rind exactly rindDepthMm deep', () => {
    const zones = computeZones(boxLabels(50, 5), 2, { rindDepthMm: 10 });
    let core = 0;
    let rind = 0;
    for (let n = 0; n < zones.zoneCodes.length; n++) {
      if (!zones.zoneCodes[n]) continue;
      if (zones.rind[n]) rind++;
      else core++;
    }
    // A 40-voxel cube loses five 2 mm layers on each side: a 30-voxel core remains.
    expect(core).toBe(30 ** 3);
    expect(rind).toBe(40 ** 3 - 30 ** 3);
  });

  it('splits a lung into thirds by volume', () => {
    const zones = computeZones(boxLabels(50, 5), 2, { rindDepthMm: 10 });
    const perThird = [0, 0, 0];
    for (const code of zones.zoneCodes)
      if (code) perThird[['upper', 'middle', 'lower'].indexOf(decodeZone(code)!.third)]++;
    const slice = 40 * 40;
    for (const count of perThird) expect(Math.abs(count - 40 ** 3 / 3)).toBeLessThanOrEqual(slice);
    // Upper means superior: the top slices (largest LPS z) are upper.
    expect(decodeZone(zones.zoneCodes[25 + 50 * (25 + 50 * 44)])!.third).toBe('upper');
    expect(decodeZone(zones.zoneCodes[25 + 50 * (25 + 50 * 5)])!.third).toBe('lower');
  });

  it('cuts thirds at the ranked voxel z', () => {
    // A cone, so that slices hold different voxel counts, on axial, z-flipped and tilted grids.
    const size = 24;
    const data = new Uint8Array(size ** 3);
    for (let k = 2; k < size - 2; k++) {
      for (let j = 0; j < size; j++) {
        for (let i = 0; i < size; i++) {
          const inside = (i - 12) ** 2 + (j - 12) ** 2 <= ((k * 10) / size) ** 2;
          if (inside) data[i + size * (j + size * k)] = LUNG_LABELS.right;
        }
      }
    }
    const tilt = Math.sin(0.2);
    const directions = [
      [1, 0, 0, 0, 1, 0, 0, 0, 1],
      [1, 0, 0, 0, -1, 0, 0, 0, -1],
      [1, 0, 0, 0, Math.cos(0.2), -tilt, 0, tilt, Math.cos(0.2)],
    ];
    for (const direction of directions) {
      const labels: LabelVolume = {
        size: [size, size, size],
        spacingMm: [1.5, 1.5, 2],
        originMm: [3, -4, 50],
        direction: Float64Array.from(direction),
        data,
      };
      const zs: number[] = [];
      for (let k = 0; k < size; k++) {
        for (let j = 0; j < size; j++) {
          for (let i = 0; i < size; i++) {
            if (!data[i + size * (j + size * k)]) continue;
            zs.push(direction[6] * 1.5 * i + direction[7] * 1.5 * j + direction[8] * 2 * k + 50);
          }
        }
      }
      zs.sort((x, y) => y - x);
      const expected = [zs[Math.floor(zs.length / 3)], zs[Math.floor((2 * zs.length) / 3)]];
      const zones = computeZones(labels, 2, { rindDepthMm: 4 });
      expect(zones.thirdBoundariesMm.right[0]).toBeCloseTo(expected[0], 9);
      expect(zones.thirdBoundariesMm.right[1]).toBeCloseTo(expected[1], 9);
      expect(zones.thirdBoundariesMm.left).toEqual([Number.NaN, Number.NaN]);
    }
  });

  it('BAD CALL - rejects a negative rind depth', () => {
    expect(() => computeZones(boxLabels(10, 2), 2, { rindDepthMm: -1 })).toThrow(RangeError);
  });
});

describe('computeZones on cip-ct64', () => {
  let regions: Uint16Array;
  let referenceLabels: LabelVolume;

  beforeAll(async () => {
    const labelMap = await readLabelMapForTests(path.join(CIP, 'lm-64.nrrd'));
    regions = labelMap.data;
    const data = new Uint8Array(regions.length);
    for (let n = 0; n < data.length; n++) {
      const region = regions[n] & 0xff;
      if (region >= 12 && region <= 14) data[n] = LUNG_LABELS.right;
      else if (region >= 9 && region <= 11) data[n] = LUNG_LABELS.left;
    }
    referenceLabels = { ...labelMap, data };
  });

  it('agrees with the reference thirds on the reference lungs', () => {
    const zones = computeZones(referenceLabels, undefined, { rindDepthMm: 10 });
    const { dice, agreement } = compareThirds(zones.zoneCodes, regions);
    console.log(
      'cip-ct64 thirds from reference lungs: Dice',
      dice.map((d) => d.toFixed(3)),
      'agreement',
      agreement.toFixed(3),
    );
    expect(agreement).toBeGreaterThanOrEqual(0.8);
    expect(Math.min(...dice)).toBeGreaterThanOrEqual(0.7);
  });

  it('agrees with the reference thirds on segmented lungs', async () => {
    const scan = (await readScan(path.join(CIP, 'ct-64.nrrd'))).volume;
    const grid = resampleToWorkingGrid(scan, 2);
    const zones = computeZones(segmentLungs(grid).labels, 2, { rindDepthMm: 10 });
    const native = resampleLabelsToReference(zones.labels, grid.source);
    const { dice, agreement } = compareThirds(native.data, regions);
    console.log(
      'cip-ct64 thirds from segmented lungs: Dice',
      dice.map((d) => d.toFixed(3)),
      'agreement',
      agreement.toFixed(3),
    );
    expect(agreement).toBeGreaterThanOrEqual(0.8);
    expect(dice.reduce((a, b) => a + b) / dice.length).toBeGreaterThanOrEqual(0.8);
  });
});

import path from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { resampleToWorkingGrid } from '../geometry/index.ts';
import { readScan } from '../io/read-scan.ts';
import { REAL_DATA_DIR } from '../testing/read-nrrd-for-tests.ts';
import type { Volume } from '../volume.ts';
import { segmentLungs } from './segment-lungs.ts';

const CT64 = path.join(REAL_DATA_DIR, 'cip-ct64', 'ct-64.nrrd');
const REVERSED = 'The trachea appears at the inferior end of the scan';

/** Reverses the slices of a scan while keeping its header, as an upside-down export would. */
function reverseSlices(scan: Volume): Volume {
  const [nx, ny, nz] = scan.size;
  const slice = nx * ny;
  const data = new Int16Array(scan.data.length);
  for (let k = 0; k < nz; k++) {
    data.set(scan.data.subarray(k * slice, (k + 1) * slice), (nz - 1 - k) * slice);
  }
  return { ...scan, data };
}

describe('reversed slice order warning', () => {
  let scan: Volume;

  beforeAll(async () => {
    scan = (await readScan(CT64)).volume;
  });

  it('stays silent on a correctly oriented scan', () => {
    const { warnings } = segmentLungs(resampleToWorkingGrid(scan, 2));

    expect(warnings.filter((warning) => warning.startsWith(REVERSED))).toEqual([]);
  });

  it('warns when the slices are upside down', () => {
    const { warnings, labels } = segmentLungs(resampleToWorkingGrid(reverseSlices(scan), 2));

    const reversed = warnings.filter((warning) => warning.startsWith(REVERSED));
    expect(reversed).toHaveLength(1);
    expect(reversed[0]).toContain('slice order may be reversed');
    // The scan is still segmented, because the header may be right.
    expect(labels.data.some((label) => label !== 0)).toBe(true);
  });
});

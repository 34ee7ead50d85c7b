import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { resampleToWorkingGridParallel } from '../geometry/parallel-working-grid.ts';
import type { WorkingGrid } from '../geometry/working-grid.ts';
import { readScan } from '../io/read-scan.ts';
import { SlabWorkerPool } from '../parallel/slab-worker-pool.ts';
import { REAL_DATA_DIR } from '../testing/read-nrrd-for-tests.ts';
import { squaredDistanceToBackground } from './distance-transform.ts';
import { segmentLungsParallel } from './parallel-segmentation.ts';
import { segmentLungs, type LungSegmentation } from './segment-lungs.ts';
import { makeSyntheticChest } from './synthetic-chest.ts';

function expectSameSegmentation(actual: LungSegmentation, expected: LungSegmentation): void {
  expect(Buffer.from(actual.labels.data).equals(Buffer.from(expected.labels.data))).toBe(true);
  expect(Buffer.from(actual.airway).equals(Buffer.from(expected.airway))).toBe(true);
  expect(actual.volumesMl).toEqual(expected.volumesMl);
  expect(actual.coverage).toEqual(expected.coverage);
  expect(actual.warnings).toEqual(expected.warnings);
  expect(actual.separation).toBe(expected.separation);
}

describe('segmentLungsParallel', () => {
  const workersOnly = new SlabWorkerPool(1, { callingThreadClaims: false });
  const shared = new SlabWorkerPool(2);
  const grids: Record<string, WorkingGrid> = {};

  beforeAll(async () => {
    await Promise.all([workersOnly.ready(), shared.ready()]);
    const phantom = makeSyntheticChest({ size: [130, 130, 110], spacingMm: [2.8, 2.8, 3] });
    grids.phantom = await resampleToWorkingGridParallel(phantom.volume, 2, { pool: shared });
    for (const file of ['cip-ct64/ct-64.nrrd', 'ts-thorax-crop/ct.nii.gz']) {
      const { volume } = await readScan(path.join(REAL_DATA_DIR, file));
      grids[file] = await resampleToWorkingGridParallel(volume, 2, { pool: shared });
    }
  });

  afterAll(async () => {
    await Promise.all([workersOnly.close(), shared.close()]);
  });

  for (const name of ['phantom', 'cip-ct64/ct-64.nrrd', 'ts-thorax-crop/ct.nii.gz']) {
    it(`equals serial segmentation on ${name}`, async () => {
      const grid = grids[name];
      expect(grid.volume.data.buffer).toBeInstanceOf(SharedArrayBuffer);
      const expected = segmentLungs(grid);
      expectSameSegmentation(await segmentLungsParallel(grid, { pool: workersOnly }), expected);
      expectSameSegmentation(await segmentLungsParallel(grid, { pool: shared }), expected);
      expect(expected.volumesMl.total).toBeGreaterThan(100);
    });
  }

  it('passes non-default thresholds to the workers', async () => {
    const grid = grids['cip-ct64/ct-64.nrrd'];
    const options = { airThresholdHu: -600, tissueThresholdHu: -300 };
    const expected = segmentLungs(grid, options);
    const actual = await segmentLungsParallel(grid, { ...options, pool: workersOnly });
    expectSameSegmentation(actual, expected);
    expect(expected.volumesMl).not.toEqual(segmentLungs(grid).volumesMl);
  });
});

describe('squaredDistanceToBackground with workers', () => {
  const workersOnly = new SlabWorkerPool(1, { callingThreadClaims: false });
  const shared = new SlabWorkerPool(1);
  const size: [number, number, number] = [83, 71, 64];
  const spacing: [number, number, number] = [1.5, 2, 2.5];
  const mask = new Uint8Array(size[0] * size[1] * size[2]);

  beforeAll(async () => {
    await Promise.all([workersOnly.ready(), shared.ready()]);
    // Two overlapping balls with a few holes, so the distances vary along every axis.
    let n = 0;
    for (let k = 0; k < size[2]; k++) {
      for (let j = 0; j < size[1]; j++) {
        for (let i = 0; i < size[0]; i++, n++) {
          const inBall = (i - 30) ** 2 + (j - 35) ** 2 + (k - 30) ** 2 < 26 ** 2;
          const inOther = (i - 60) ** 2 + (j - 30) ** 2 + (k - 40) ** 2 < 20 ** 2;
          mask[n] = (inBall || inOther) && n % 997 !== 0 ? 1 : 0;
        }
      }
    }
  });

  afterAll(async () => {
    await Promise.all([workersOnly.close(), shared.close()]);
  });

  it('equals serial transform on workers', () => {
    const expected = squaredDistanceToBackground(mask, size, spacing, undefined);
    for (const pool of [workersOnly, shared]) {
      const actual = squaredDistanceToBackground(mask, size, spacing, pool);
      expect(actual.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(Buffer.from(actual.buffer).equals(Buffer.from(expected.buffer))).toBe(true);
    }
    expect(expected.reduce((max, value) => Math.max(max, value), 0)).toBeGreaterThan(100);
  });

  it('recomputes serially after worker failure', () => {
    const failingPool = {
      runSync: () => {
        throw new Error('worker stopped');
      },
    } as unknown as SlabWorkerPool;
    const expected = squaredDistanceToBackground(mask, size, spacing, undefined);
    const actual = squaredDistanceToBackground(mask, size, spacing, failingPool);
    expect(Buffer.from(actual.buffer).equals(Buffer.from(expected.buffer))).toBe(true);
  });

  it('runSync rejects a failed chunk', () => {
    const task = { kind: 'unknown-task' } as never;
    expect(() => workersOnly.runSync({ task, total: 4, chunkSize: 1 })).toThrow(
      /worker thread failed with 0 of 4 chunks/,
    );
  });
});

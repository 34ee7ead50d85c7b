import { availableParallelism } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Logger } from '../logger.ts';
import { PADDING_HU, type Volume } from '../volume.ts';
import { readScan } from '../io/read-scan.ts';
import {
  defaultWorkerCount,
  PREPROCESS_WORKERS_ENV,
  SlabWorkerPool,
} from '../parallel/slab-worker-pool.ts';
import { REAL_DATA_DIR } from '../testing/read-nrrd-for-tests.ts';
import { resampleToWorkingGridParallel } from './parallel-working-grid.ts';
import { resampleToWorkingGrid, type WorkingGrid } from './working-grid.ts';

/**
 * Builds an int16 HU volume with noise, a padding border on some rows and a padding hole inside,
 * so that every path of the row filter runs. `direction` flips or permutes axes when given.
 */
function makeVolume(
  size: [number, number, number],
  spacingMm: [number, number, number],
  direction: number[] = [1, 0, 0, 0, 1, 0, 0, 0, 1],
): Volume {
  const [n0, n1, n2] = size;
  const data = new Int16Array(n0 * n1 * n2);
  let state = 12345;
  for (let k = 0; k < n2; k++) {
    for (let j = 0; j < n1; j++) {
      for (let i = 0; i < n0; i++) {
        state = (state * 1103515245 + 12345) % 2147483648;
        const noise = (state % 200) - 100;
        const inLung = (i - n0 / 3) ** 2 + (j - n1 / 2) ** 2 < (n0 / 5) ** 2;
        let hu = inLung ? -850 + noise : 40 + noise;
        if (i < 3 + (j % 4) || i > n0 - 4) hu = -3024;
        if (i === Math.floor(n0 / 2) && j % 5 === 0) hu = -2000;
        data[i + n0 * (j + n1 * k)] = hu < -1500 ? PADDING_HU : hu;
      }
    }
  }
  const originMm: [number, number, number] = [-20, 15, 100];
  return { size, spacingMm, originMm, direction: Float64Array.from(direction), data };
}

function expectSameGrid(actual: WorkingGrid, expected: WorkingGrid): void {
  expect(actual.volume.size).toEqual(expected.volume.size);
  expect(actual.volume.spacingMm).toEqual(expected.volume.spacingMm);
  expect(actual.volume.originMm).toEqual(expected.volume.originMm);
  expect(Array.from(actual.volume.direction)).toEqual(Array.from(expected.volume.direction));
  expect(actual.canonicalTransform).toEqual(expected.canonicalTransform);
  // Bit-identical: every voxel is computed by the same code from the same inputs.
  const sameHu = Buffer.from(actual.volume.data.buffer).equals(
    Buffer.from(expected.volume.data.buffer),
  );
  expect(sameHu).toBe(true);
  const sameMask = Buffer.from(actual.fovMask.buffer).equals(Buffer.from(expected.fovMask.buffer));
  expect(sameMask).toBe(true);
}

describe('resampleToWorkingGridParallel', () => {
  const workersOnly = new SlabWorkerPool(1, { callingThreadClaims: false });
  const shared = new SlabWorkerPool(2);

  beforeAll(async () => {
    await Promise.all([workersOnly.ready(), shared.ready()]);
  });

  afterAll(async () => {
    await Promise.all([workersOnly.close(), shared.close()]);
  });

  it('equals serial grid from worker only', async () => {
    const volume = makeVolume([61, 47, 39], [0.7, 0.7, 1.0]);
    const expected = resampleToWorkingGrid(volume, 2);
    const actual = await resampleToWorkingGridParallel(volume, 2, { pool: workersOnly });
    expect(actual.volume.data.buffer).toBeInstanceOf(SharedArrayBuffer);
    expectSameGrid(actual, expected);
    expect(actual.volume.data.some((hu) => hu === PADDING_HU)).toBe(true);
    expect(actual.volume.data.some((hu) => hu > -900 && hu < -700)).toBe(true);
  });

  it('equals serial grid with shared slices', async () => {
    const volume = makeVolume([90, 70, 120], [0.6, 0.6, 0.8]);
    const expected = resampleToWorkingGrid(volume, 2);
    const actual = await resampleToWorkingGridParallel(volume, 2, { pool: shared });
    expectSameGrid(actual, expected);
  });

  it('equals serial grid for reordered scan', async () => {
    // Axes flipped and swapped, so the canonical copy is not shared and is copied first.
    const volume = makeVolume([30, 26, 22], [3.1, 2.9, 4.2], [0, -1, 0, 1, 0, 0, 0, 0, -1]);
    const expected = resampleToWorkingGrid(volume, 2);
    const actual = await resampleToWorkingGridParallel(volume, 2, { pool: workersOnly });
    expectSameGrid(actual, expected);
  });

  it('falls back for oblique scan', async () => {
    const angle = (10 * Math.PI) / 180;
    const direction = [Math.cos(angle), -Math.sin(angle), 0, Math.sin(angle), Math.cos(angle), 0];
    const volume = makeVolume([40, 40, 20], [1, 1, 1.5], [...direction, 0, 0, 1]);
    const expected = resampleToWorkingGrid(volume, 2);
    const actual = await resampleToWorkingGridParallel(volume, 2, { pool: workersOnly });
    expectSameGrid(actual, expected);
  });

  it('recomputes serially after worker failure', async () => {
    const volume = makeVolume([40, 36, 30], [0.8, 0.8, 1.0]);
    const failingPool = {
      size: 1,
      run: async () => {
        throw new Error('worker stopped');
      },
    } as unknown as SlabWorkerPool;
    const warnings: string[] = [];
    const logger: Logger = {
      debug() {},
      info() {},
      warn: (fields, message) => warnings.push(`${message}: ${String(fields.error)}`),
      error() {},
    };
    const actual = await resampleToWorkingGridParallel(volume, 2, { pool: failingPool, logger });
    expectSameGrid(actual, resampleToWorkingGrid(volume, 2));
    expect(warnings).toEqual([
      'parallel resampling failed, resampling on one thread: worker stopped',
    ]);
  });

  for (const [name, file] of [
    ['ts-thorax-crop (NIfTI)', 'ts-thorax-crop/ct.nii.gz'],
    ['cip-ct64 (NRRD)', 'cip-ct64/ct-64.nrrd'],
  ]) {
    it(`equals serial grid on ${name}`, async () => {
      const { volume } = await readScan(path.join(REAL_DATA_DIR, file));
      const expected = resampleToWorkingGrid(volume, 2);
      const actual = await resampleToWorkingGridParallel(volume, 2, { pool: workersOnly });
      expectSameGrid(actual, expected);
    });
  }
});

describe('SlabWorkerPool', () => {
  it('rejects run after worker failure', async () => {
    const pool = new SlabWorkerPool(1, { callingThreadClaims: false });
    try {
      await pool.ready();
      // A task kind the worker does not know makes it throw.
      const task = { kind: 'unknown-task' } as never;
      const run = pool.run({ task, total: 4, chunkSize: 1 });
      await expect(run).rejects.toThrow(/worker thread failed with 0 of 4 chunks/);
    } finally {
      await pool.close();
    }
  });

  it('rejects fractional worker count', () => {
    expect(() => new SlabWorkerPool(1.5)).toThrow(/Invalid worker count 1.5/);
  });
});

describe('defaultWorkerCount', () => {
  const saved = process.env[PREPROCESS_WORKERS_ENV];
  afterAll(() => {
    if (saved === undefined) delete process.env[PREPROCESS_WORKERS_ENV];
    else process.env[PREPROCESS_WORKERS_ENV] = saved;
  });

  it('reads count from environment', () => {
    process.env[PREPROCESS_WORKERS_ENV] = '0';
    expect(defaultWorkerCount()).toBe(0);
    process.env[PREPROCESS_WORKERS_ENV] = '2';
    expect(defaultWorkerCount()).toBe(2);
  });

  it('leaves one CPU by default', () => {
    delete process.env[PREPROCESS_WORKERS_ENV];
    expect(defaultWorkerCount()).toBe(Math.min(availableParallelism() - 1, 3));
  });

  it('rejects non-integer environment count', () => {
    process.env[PREPROCESS_WORKERS_ENV] = 'two';
    expect(() => defaultWorkerCount()).toThrow(/Invalid DLCO_PREPROCESS_WORKERS='two'/);
  });
});

import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  BAG_FORMAT_VERSION,
  DEFAULT_PREPROCESS_PARAMS,
  InputError,
  preprocessParamsHash,
  silentLogger,
  type PatchBag,
  type PreprocessParams,
} from '@dlco/preprocess';
import { afterAll, describe, expect, it } from 'vitest';

import type { ScanJob } from '../manifest.ts';
import type { ScanProgress } from '../progress.ts';
import { preprocessJobs, UNEXPECTED_ERROR_CODE } from './preprocess-jobs.ts';

const workDir = mkdtempSync(join(tmpdir(), 'preprocess-jobs-spec-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

/** Builds a bag with one empty 2³ patch, enough for the writer. */
function tinyBag(params: PreprocessParams): PatchBag {
  const geometry = {
    size: [2, 2, 2] as [number, number, number],
    spacingMm: [2, 2, 2] as [number, number, number],
    originMm: [0, 0, 0] as [number, number, number],
    direction: [1, 0, 0, 0, 1, 0, 0, 0, 1],
  };
  return {
    metadata: {
      formatVersion: BAG_FORMAT_VERSION,
      preprocessing: params,
      preprocessingHash: preprocessParamsHash(params),
      source: { fileName: 'scan.nrrd', format: 'nrrd' },
      inputGeometry: geometry,
      workingGeometry: geometry,
      zones: {},
      coverage: { complete: true, reasons: [] },
      warnings: [],
      qct: {},
      patchCount: 1,
      droppedLungFraction: 0,
      lungVolumeMl: 0.064,
    },
    patches: {
      patchSizeVoxels: params.patchSizeVoxels,
      count: 1,
      hu: new Int16Array(params.patchSizeVoxels ** 3),
      mask: new Uint8Array(params.patchSizeVoxels ** 3),
      centersMm: new Float32Array(3),
      cornerIjk: new Int32Array(3),
      lungMl: new Float32Array(1),
      zone: new Uint8Array(1),
      side: new Uint8Array(1),
      rindFraction: new Float32Array(1),
    },
  };
}

const PARAMS = { ...DEFAULT_PREPROCESS_PARAMS, patchSizeVoxels: 2 };

function silentProgress(): ScanProgress & { statuses: string[] } {
  const statuses: string[] = [];
  return {
    statuses,
    advance: (id, status) => statuses.push(`${id}: ${status}`),
    log() {},
    stop() {},
  };
}

/** Builds tiny bags, and fails for paths that contain 'broken' or 'crash'. */
async function fakeBuildBag(job: ScanJob, params: PreprocessParams): Promise<PatchBag> {
  if (job.path.includes('broken')) throw new InputError('INPUT_CORRUPT', `${job.path} is damaged`);
  if (job.path.includes('crash')) throw new Error('out of memory');
  return tinyBag(params);
}

const JOBS: ScanJob[] = [
  { id: 'a', path: '/scans/a.nrrd' },
  { id: 'b', path: '/scans/broken.nrrd' },
  { id: 'c', path: '/scans/c.nrrd' },
  { id: 'd', path: '/scans/crash.nrrd' },
];

describe('preprocessJobs', () => {
  it('writes bags and lists failures', async () => {
    const outDir = join(workDir, 'first-run');
    const progress = silentProgress();

    const summary = await preprocessJobs(JOBS, {
      outDir,
      params: PARAMS,
      logger: silentLogger,
      progress,
      buildBag: fakeBuildBag,
    });

    expect(summary.written).toEqual(['a', 'c']);
    expect(summary.skipped).toEqual([]);
    expect(summary.failures).toEqual([
      {
        id: 'b',
        code: 'INPUT_CORRUPT',
        message: '/scans/broken.nrrd is damaged',
        inputError: true,
      },
      { id: 'd', code: UNEXPECTED_ERROR_CODE, message: 'out of memory', inputError: false },
    ]);
    expect(readdirSync(outDir).sort()).toEqual(['a', 'c']);
    expect(progress.statuses).toHaveLength(4);
  });

  it('skips bags with the same hash on a rerun', async () => {
    const outDir = join(workDir, 'rerun');
    const options = { outDir, params: PARAMS, logger: silentLogger, buildBag: fakeBuildBag };
    await preprocessJobs(JOBS, { ...options, progress: silentProgress() });

    const summary = await preprocessJobs(JOBS, { ...options, progress: silentProgress() });

    expect(summary.skipped).toEqual(['a', 'c']);
    expect(summary.written).toEqual([]);
    expect(summary.failures.map((failure) => failure.id)).toEqual(['b', 'd']);
  });

  it('rewrites bags made with other parameters', async () => {
    const outDir = join(workDir, 'new-params');
    const options = { outDir, logger: silentLogger, buildBag: fakeBuildBag };
    await preprocessJobs(JOBS.slice(0, 1), {
      ...options,
      params: PARAMS,
      progress: silentProgress(),
    });

    const summary = await preprocessJobs(JOBS.slice(0, 1), {
      ...options,
      params: { ...PARAMS, minLungFraction: 0.2 },
      progress: silentProgress(),
    });

    expect(summary.written).toEqual(['a']);
  });

  it('rethrows the first failure when asked to stop', async () => {
    const outDir = join(workDir, 'stop');

    await expect(
      preprocessJobs(JOBS.slice(1), {
        outDir,
        params: PARAMS,
        logger: silentLogger,
        progress: silentProgress(),
        buildBag: fakeBuildBag,
        stopOnFailure: true,
      }),
    ).rejects.toThrow(InputError);
    expect(existsSync(join(outDir, 'c'))).toBe(false);
  });
});

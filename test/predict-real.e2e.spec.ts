import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { resultSchemaErrors, type PredictionResult } from '@dlco/model';
import {
  preprocessScan,
  resampleLabelsToReference,
  type LabelVolume,
  type PreprocessScanResult,
} from '@dlco/preprocess';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  diceOfMasks,
  distanceMm,
  maskCentroidMm,
  pickModelDir,
  readGrid,
  runDlco,
  SCANS,
  SUBJECT_FLAGS,
  type CliRun,
} from './support/e2e-support.ts';

const model = pickModelDir();
const workDir = mkdtempSync(join(tmpdir(), 'dlco-predict-e2e-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

const WHOLE_LUNG_SCANS = [
  { name: 'cip-ct64 NRRD', path: SCANS.ct64Nrrd, out: 'ct64-nrrd' },
  { name: 'cip-ct64 DICOM', path: SCANS.ct64Dicom, out: 'ct64-dicom' },
  { name: 'popi-4dct-phase00 DICOM', path: SCANS.popiDicom, out: 'popi' },
] as const;

const REJECTED_SCANS = [
  {
    name: 'ts-thorax-crop',
    path: SCANS.thoraxCrop,
    out: 'crop',
    code: 'LUNG_COVERAGE_INCOMPLETE',
  },
  {
    name: 'lungmask-two-slices',
    path: SCANS.twoSlices,
    out: 'two',
    code: 'INPUT_TOO_FEW_SLICES',
  },
] as const;

function predictArgs(scan: string, out: string): string[] {
  return ['predict', scan, ...SUBJECT_FLAGS, '--model', model.dir, '--out', join(workDir, out)];
}

/** CLI runs started together, so their start-up and I/O overlap. */
const runs = new Map<string, Promise<CliRun>>();
/** Working-grid preprocessing of each whole-lung scan, run in this process. */
const preprocessed = new Map<string, Promise<PreprocessScanResult>>();

beforeAll(() => {
  for (const scan of [...WHOLE_LUNG_SCANS, ...REJECTED_SCANS]) {
    runs.set(scan.out, runDlco(predictArgs(scan.path, scan.out)));
  }
  for (const scan of WHOLE_LUNG_SCANS) preprocessed.set(scan.out, preprocessScan(scan.path));
});

describe.each(WHOLE_LUNG_SCANS)('dlco predict on $name', (scan) => {
  const outDir = () => join(workDir, scan.out);

  it('writes a result that follows the schema', async () => {
    const run = await runs.get(scan.out)!;
    expect(run.stderr).not.toMatch(/^error/m);
    expect(run.code).toBe(0);
    const result = JSON.parse(readFileSync(join(outDir(), 'result.json'), 'utf8'));
    expect(resultSchemaErrors(result)).toEqual([]);
    const { dlco } = result as PredictionResult;
    console.log(
      `${scan.name} (${model.name} model): estimate ${dlco.estimate.toFixed(3)} ml/min/mmHg, ` +
        `interval ${dlco.lower.toFixed(2)} to ${dlco.upper.toFixed(2)}`,
    );
    expect(dlco.estimate).toBeGreaterThan(0);
    expect(Number.isFinite(dlco.estimate)).toBe(true);
  });

  it('keeps at least 99 % of the map inside the lung mask', async () => {
    await runs.get(scan.out);
    const map = await readGrid<Float32Array>(join(outDir(), 'map.nii.gz'));
    const mask = await readGrid<Uint8Array>(join(outDir(), 'lung-mask.nii.gz'));
    expect(map.size).toEqual(mask.size);
    let inside = 0;
    let total = 0;
    for (let n = 0; n < map.data.length; n++) {
      const mass = Math.abs(map.data[n]);
      total += mass;
      if (mask.data[n] !== 0) inside += mass;
    }
    expect(total).toBeGreaterThan(0);
    expect(inside / total).toBeGreaterThanOrEqual(0.99);
  });

  it('writes maps on the input grid', async () => {
    await runs.get(scan.out);
    const { working } = await preprocessed.get(scan.out)!;
    const source = working.source;
    for (const file of ['map.nii.gz', 'lung-mask.nii.gz']) {
      const grid = await readGrid<Uint8Array>(join(outDir(), file));
      expect(grid.size, file).toEqual(source.size);
      for (let axis = 0; axis < 3; axis++) {
        const spacing = source.spacingMm[axis];
        expect(grid.spacingMm[axis], `${file} spacing ${axis}`).toBeCloseTo(spacing, 3);
        expect(grid.originMm[axis], `${file} origin ${axis}`).toBeCloseTo(source.originMm[axis], 2);
      }
      for (let n = 0; n < 9; n++) {
        expect(grid.direction[n], `${file} direction ${n}`).toBeCloseTo(source.direction[n], 5);
      }
    }
  });

  it('writes a lung mask that lines up with the working grid', async () => {
    await runs.get(scan.out);
    const { segmentation } = await preprocessed.get(scan.out)!;
    const working = segmentation.labels;
    const inputMask: LabelVolume = await readGrid<Uint8Array>(
      join(outDir(), 'lung-mask.nii.gz'),
    );
    const onWorking = resampleLabelsToReference(inputMask, working);
    const dice = diceOfMasks(onWorking.data, working.data);
    const offsetMm = distanceMm(maskCentroidMm(inputMask), maskCentroidMm(working));
    const inputVoxelMm = Math.max(...inputMask.spacingMm);
    console.log(
      `${scan.name}: Dice ${dice.toFixed(4)}, centroid offset ${offsetMm.toFixed(2)} mm ` +
        `(input voxel ${inputVoxelMm.toFixed(2)} mm)`,
    );
    expect(dice).toBeGreaterThanOrEqual(0.95);
    expect(offsetMm).toBeLessThanOrEqual(inputVoxelMm);
  });
});

describe.each(REJECTED_SCANS)('dlco predict on $name', (scan) => {
  it('exits with its error code and writes nothing', async () => {
    const run = await runs.get(scan.out)!;
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`error [${scan.code}]`);
    expect(run.stdout).not.toContain('Estimate');
    expect(existsSync(join(workDir, scan.out))).toBe(false);
  });
});

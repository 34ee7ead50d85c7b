import { execFile } from 'node:child_process';
import {
  copyFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { readImageNode } from '@itk-wasm/image-io';
import { readPatchBag, readScan } from '@dlco/preprocess';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CLI_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DLCO_BIN = join(CLI_ROOT, 'bin/dlco.js');
const REAL_DATA = join(CLI_ROOT, '../../../shared/data/real');
const CT64_NRRD = join(REAL_DATA, 'cip-ct64/ct-64.nrrd');
const CT64_DICOM = join(REAL_DATA, 'cip-ct64/dicom');
/** Thorax crop whose lung apices lie above the scan. */
const THORAX_CROP = join(REAL_DATA, 'ts-thorax-crop/ct.nii.gz');
/** Whole-lung volume of cip-ct64 from its reference mask (wholeLung-64.nrrd), in mL. */
const CT64_REFERENCE_LUNG_ML = 4554;

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

// Runs start one after another: several ITK-wasm processes at once on a 2-core machine made
// reads fail under memory and CPU pressure.
let previousRun: Promise<unknown> = Promise.resolve();

function runDlco(args: string[]): Promise<CliRun> {
  const run = previousRun.then(() => spawnDlco(args));
  previousRun = run;
  return run;
}

function spawnDlco(args: string[]): Promise<CliRun> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [DLCO_BIN, ...args],
      { maxBuffer: 1 << 24 },
      (error, stdout, stderr) => {
        let code = 0;
        if (error !== null) code = typeof error.code === 'number' ? error.code : -1;
        resolvePromise({ code, stdout, stderr });
      },
    );
  });
}

const workDir = mkdtempSync(join(tmpdir(), 'dlco-cli-e2e-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

const nrrdMaskPath = join(workDir, 'ct64-mask.nrrd');
const scanCopyPath = join(workDir, 'ct64-copy.nrrd');
const niftiMaskPath = join(workDir, 'ct64-mask.nii.gz');
const outDir = join(workDir, 'bags');
const manifestPath = join(workDir, 'manifest.csv');

/** CLI runs queued in `beforeAll`; each test awaits the run it checks. */
let runs: Record<
  | 'json'
  | 'text'
  | 'missingScan'
  | 'invalidMask'
  | 'maskOverScan'
  | 'maskInMissingFolder'
  | 'missingOut'
  | 'invalidId'
  | 'manifest'
  | 'cropped',
  Promise<CliRun>
>;

beforeAll(() => {
  copyFileSync(CT64_NRRD, scanCopyPath);
  writeFileSync(
    join(workDir, 'broken.nrrd'),
    'NRRD0004\ntype: short\ndimension: 3\n\nnot a volume',
  );
  writeFileSync(
    manifestPath,
    [
      'id,path',
      `ct64-nrrd,${CT64_NRRD}`,
      `ct64-dicom,${CT64_DICOM}`,
      'broken,broken.nrrd',
      '',
    ].join('\n'),
  );
  runs = {
    json: runDlco(['inspect', CT64_NRRD, '--json', '--mask-out', nrrdMaskPath]),
    text: runDlco(['inspect', CT64_DICOM, '--mask-out', niftiMaskPath]),
    missingScan: runDlco(['inspect', join(workDir, 'missing.nrrd')]),
    invalidMask: runDlco(['inspect', CT64_NRRD, '--mask-out', join(workDir, 'mask.png')]),
    maskOverScan: runDlco(['inspect', scanCopyPath, '--mask-out', scanCopyPath]),
    maskInMissingFolder: runDlco([
      'inspect',
      CT64_NRRD,
      '--mask-out',
      join(workDir, 'missing-folder', 'mask.nii.gz'),
    ]),
    missingOut: runDlco(['preprocess', manifestPath]),
    invalidId: runDlco(['preprocess', CT64_NRRD, '--out', outDir, '--id', '../outside']),
    manifest: runDlco(['preprocess', manifestPath, '--out', outDir]),
    cropped: runDlco(['preprocess', THORAX_CROP, '--out', join(workDir, 'cropped-bags')]),
  };
});

describe('dlco inspect', () => {
  let run: CliRun;

  beforeAll(async () => {
    run = await runs.json;
  });

  it('prints one JSON object', () => {
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(() => JSON.parse(run.stdout)).not.toThrow();
  });

  it('reports the geometry of the scan', () => {
    const report = JSON.parse(run.stdout);

    expect(report.scan.format).toBe('nrrd');
    expect(report.geometry.size).toEqual([64, 64, 79]);
    expect(report.geometry.direction).toHaveLength(9);
  });

  it('measures a lung volume near the reference', () => {
    const report = JSON.parse(run.stdout);

    expect(report.coverage.complete).toBe(true);
    expect(report.lungVolumeMl).toBeGreaterThan(0.85 * CT64_REFERENCE_LUNG_ML);
    expect(report.lungVolumeMl).toBeLessThan(1.15 * CT64_REFERENCE_LUNG_ML);
  });

  it('reports the QCT measures per region', () => {
    const { qct } = JSON.parse(run.stdout);

    for (const region of ['whole', 'right', 'left', 'right-upper-rind', 'left-lower-core']) {
      expect(Object.keys(qct[region])).toEqual(
        expect.arrayContaining(['volumeMl', 'meanHu', 'laa950Percent', 'perc15Hu', 'haaPercent']),
      );
    }
    expect(qct.whole.meanHu).toBeLessThan(-700);
  });

  it('writes an NRRD mask with the exact input geometry', async () => {
    const input = await readImageNode(CT64_NRRD);
    const mask = await readImageNode(nrrdMaskPath);

    expect(mask.size).toEqual(input.size);
    expect(mask.spacing).toEqual(input.spacing);
    expect(mask.origin).toEqual(input.origin);
    expect(Array.from(mask.direction as Float64Array)).toEqual(
      Array.from(input.direction as Float64Array),
    );
    expect(new Set(mask.data as Uint8Array)).toEqual(new Set([0, 1, 2]));
  });

  it('writes a NIfTI mask with the geometry of a DICOM input', async () => {
    await runs.text;
    const { volume: input } = await readScan(CT64_DICOM);
    const mask = await readImageNode(niftiMaskPath);

    // NIfTI stores spacing and origin as float32, so they match to float32 precision only.
    expect(mask.size).toEqual(input.size);
    mask.spacing.forEach((value, axis) => expect(value).toBeCloseTo(input.spacingMm[axis], 4));
    mask.origin.forEach((value, axis) => expect(value).toBeCloseTo(input.originMm[axis], 3));
    const direction = Array.from(mask.direction as Float64Array);
    direction.forEach((value, n) => expect(value).toBeCloseTo(input.direction[n], 6));
  });

  it('prints geometry, series UID and a QCT table as text', async () => {
    const text = await runs.text;

    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^scan\s+.*\(dicom\)$/m);
    expect(text.stdout).toMatch(/^series UID\s+[0-9.]+$/m);
    expect(text.stdout).toMatch(/size\s+64 x 64 x 79 voxels/);
    expect(text.stdout).toMatch(/region\s+volume mL\s+MLD HU\s+%LAA-950\s+Perc15 HU\s+%HAA/);
    expect(text.stdout).toMatch(/^whole lung\s+\d+/m);
    expect(text.stdout).toMatch(/^lung volume\s+\d+ mL \(segmented on the 2 mm working grid\)$/m);
    expect(text.stdout).toMatch(/^QCT on the scan's own grid: /m);
  });

  it('EXPECTED FAILURE - exits 2 with the code of a missing scan', async () => {
    const missing = await runs.missingScan;

    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^error \[INPUT_NOT_FOUND\]: /);
  });

  it('BAD CALL - mask over the input scan', async () => {
    const overwrite = await runs.maskOverScan;

    expect(overwrite.code).toBe(2);
    expect(overwrite.stderr).toMatch(/^error \[OUTPUT_PATH_INVALID\]: invalid --mask-out/);
    expect(readFileSync(scanCopyPath).equals(readFileSync(CT64_NRRD))).toBe(true);
  });

  it('BAD CALL - names the flag of an invalid mask file', async () => {
    const invalid = await runs.invalidMask;

    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/^error \[OUTPUT_PATH_INVALID\]: invalid --mask-out/);
  });

  it('BAD CALL - mask in a missing folder', async () => {
    const missing = await runs.maskInMissingFolder;
    const folder = join(workDir, 'missing-folder');

    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`the folder ${folder} does not exist`);
    expect(missing.stderr).toContain(`mkdir -p ${folder}`);
    expect(missing.stderr).not.toContain('undefined');
    expect(missing.stdout).toBe('');
  });
});

describe('dlco preprocess with a manifest', () => {
  let first: CliRun;

  beforeAll(async () => {
    first = await runs.manifest;
  });

  it('writes two bags and lists the failure', () => {
    expect(first.code).toBe(2);
    expect(first.stdout).toMatch(/2 written, 0 skipped, 1 failed/);
    expect(first.stderr).toMatch(/^\[1\/3\] ct64-nrrd: wrote \d+ patches in [\d.]+ s$/m);
    expect(first.stderr).toMatch(/1 of 3 scans failed/);
    expect(first.stderr).toMatch(/broken: error \[INPUT_[A-Z_]+\]: /);
    expect(readdirSync(outDir).sort()).toEqual(['ct64-dicom', 'ct64-nrrd']);
  });

  it('writes bags the reader accepts', async () => {
    for (const id of ['ct64-nrrd', 'ct64-dicom']) {
      const bag = await readPatchBag(join(outDir, id));

      expect(bag.patches.count).toBeGreaterThan(0);
      expect(bag.metadata.source.format).toBe(id === 'ct64-nrrd' ? 'nrrd' : 'dicom');
      expect(bag.metadata.coverage.complete).toBe(true);
    }
  });

  it('skips finished scans on a rerun', async () => {
    const rerun = await runDlco(['preprocess', manifestPath, '--out', outDir]);

    expect(rerun.code).toBe(2);
    expect(rerun.stdout).toMatch(/0 written, 2 skipped, 1 failed/);
    const metadata = JSON.parse(readFileSync(join(outDir, 'ct64-nrrd/bag.json'), 'utf8'));
    expect(metadata.preprocessingHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('EXPECTED FAILURE - rejects a scan without the lung apices', async () => {
    const cropped = await runs.cropped;

    expect(cropped.code).toBe(2);
    expect(cropped.stderr).toMatch(/^error \[LUNG_COVERAGE_INCOMPLETE\]: /m);
    expect(readdirSync(workDir)).not.toContain('cropped-bags');
  });

  it('BAD CALL - names the flag of an invalid id', async () => {
    const invalidId = await runs.invalidId;

    expect(invalidId.code).toBe(1);
    expect(invalidId.stderr).toMatch(/^error: invalid --id '\.\.\/outside'/);
  });

  it('BAD CALL - names the missing --out flag', async () => {
    const missingOut = await runs.missingOut;

    expect(missingOut.code).toBe(1);
    expect(missingOut.stderr).toMatch(/--out/);
  });
});

import { execFile } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { resultSchemaErrors, type PredictionResult } from '@dlco/model';
import { readImageNode } from '@itk-wasm/image-io';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CLI_ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const DLCO_BIN = join(CLI_ROOT, 'bin/dlco.js');
const REAL_DATA = join(CLI_ROOT, '../../../shared/data/real');
const CT64_NRRD = join(REAL_DATA, 'cip-ct64/ct-64.nrrd');
const TWO_SLICES = join(REAL_DATA, 'lungmask-two-slices');
const TINY_MODEL = join(CLI_ROOT, '../../libs/model/testdata/tiny-model');
const SUBJECT_FLAGS = [
  '--age',
  '63',
  '--sex',
  'M',
  '--height',
  '175',
  '--weight',
  '80',
  '--hb',
  '14',
];

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

function runDlco(args: string[]): Promise<CliRun> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [DLCO_BIN, ...args],
      { maxBuffer: 1 << 26 },
      (error, stdout, stderr) => {
        let code = 0;
        if (error !== null) code = typeof error.code === 'number' ? error.code : -1;
        resolvePromise({ code, stdout, stderr });
      },
    );
  });
}

const workDir = mkdtempSync(join(tmpdir(), 'dlco-cli-predict-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

const jsonOut = join(workDir, 'json', 'result');
const plainFile = join(workDir, 'plain-file');
const WITHOUT_HB = SUBJECT_FLAGS.slice(0, -2);
const failedParent = join(workDir, 'failed');
const incompatibleModel = join(workDir, 'incompatible-model');

let runs: Record<
  | 'json'
  | 'text'
  | 'withoutHb'
  | 'twoSlices'
  | 'missingWeight'
  | 'invalidSex'
  | 'heightInMetres'
  | 'outUnderFile'
  | 'missingModel'
  | 'incompatible',
  Promise<CliRun>
>;

beforeAll(() => {
  cpSync(TINY_MODEL, incompatibleModel, { recursive: true });
  const cardPath = join(incompatibleModel, 'model-card.json');
  const card = JSON.parse(readFileSync(cardPath, 'utf8'));
  writeFileSync(cardPath, JSON.stringify({ ...card, preprocessingHash: 'a'.repeat(64) }));

  writeFileSync(plainFile, 'not a folder');

  const model = ['--model', TINY_MODEL];
  const json = ['--out', jsonOut, '--json', '--no-file-name'];
  runs = {
    json: runDlco(['predict', CT64_NRRD, ...SUBJECT_FLAGS, ...model, ...json]),
    text: runDlco(['predict', CT64_NRRD, ...SUBJECT_FLAGS, ...model, '--explain', 'contributions']),
    withoutHb: runDlco(['predict', CT64_NRRD, ...WITHOUT_HB, ...model, '--explain', 'contributions']),
    twoSlices: runDlco([
      'predict',
      TWO_SLICES,
      ...SUBJECT_FLAGS,
      ...model,
      '--out',
      join(failedParent, 'out'),
    ]),
    missingWeight: runDlco([
      'predict',
      CT64_NRRD,
      '--age',
      '63',
      '--sex',
      'M',
      '--height',
      '175',
      ...model,
    ]),
    invalidSex: runDlco(['predict', CT64_NRRD, ...SUBJECT_FLAGS, '--sex', 'X', ...model]),
    heightInMetres: runDlco(['predict', CT64_NRRD, ...SUBJECT_FLAGS, '--height', '1.75', ...model]),
    // The model folder is missing too, so only a check before loading it reports the --out.
    outUnderFile: runDlco([
      'predict',
      CT64_NRRD,
      ...SUBJECT_FLAGS,
      '--model',
      join(workDir, 'no-model'),
      '--out',
      join(plainFile, 'out'),
    ]),
    missingModel: runDlco([
      'predict',
      CT64_NRRD,
      ...SUBJECT_FLAGS,
      '--model',
      join(workDir, 'no-model'),
    ]),
    incompatible: runDlco(['predict', CT64_NRRD, ...SUBJECT_FLAGS, '--model', incompatibleModel]),
  };
});

describe('dlco predict --json', () => {
  let run: CliRun;
  let result: PredictionResult;

  beforeAll(async () => {
    run = await runs.json;
    result = JSON.parse(run.stdout) as PredictionResult;
  }, 300_000);

  it('exits 0', () => {
    expect(run.code, run.stderr).toBe(0);
  });

  it('prints and writes a result valid against the schema', () => {
    expect(resultSchemaErrors(result)).toEqual([]);
    const written = JSON.parse(readFileSync(join(jsonOut, 'result.json'), 'utf8'));
    expect(resultSchemaErrors(written)).toEqual([]);
    expect(written.dlco).toEqual(result.dlco);
  });

  it('leaves out the file name with --no-file-name', () => {
    const written = JSON.parse(readFileSync(join(jsonOut, 'result.json'), 'utf8'));

    expect(result.input.fileName).toBe('not recorded');
    expect(written.input.fileName).toBe('not recorded');
    expect(run.stdout).not.toContain('ct-64');
  });

  it('contributions sum to the estimate', () => {
    const patchSum = result.patches.reduce((sum, patch) => sum + patch.contributionMlMinMmHg, 0);
    const zoneSum = result.regions.reduce((sum, region) => sum + region.contributionMlMinMmHg, 0);
    expect(Math.abs(patchSum - result.dlco.estimate)).toBeLessThan(1e-3);
    expect(Math.abs(zoneSum - result.dlco.estimate)).toBeLessThan(1e-3);
  });

  it('reports reference values and the model', () => {
    for (const field of [
      'estimate',
      'lower',
      'upper',
      'predicted',
      'lln',
      'zScore',
      'percentPredicted',
    ] as const) {
      expect(typeof result.dlco[field], field).toBe('number');
    }
    expect(result.model.id).toBe('dlco-ct-tiny-model');
    expect(result.intendedUse).toMatch(/^Research use, not diagnosis\./);
  });

  it('writes maps with exactly the input geometry', async () => {
    const input = await readImageNode(CT64_NRRD);
    for (const file of ['map.nii.gz', 'lung-mask.nii.gz']) {
      const image = await readImageNode(join(jsonOut, file));
      expect(image.size, file).toEqual(input.size);
      for (let axis = 0; axis < 3; axis++) {
        // NIfTI stores spacing and origin as float32.
        expect(Math.abs(image.spacing[axis] - input.spacing[axis]), file).toBeLessThan(1e-5);
        expect(Math.abs(image.origin[axis] - input.origin[axis]), file).toBeLessThan(1e-4);
      }
      const direction = Array.from(image.direction as Float64Array);
      const inputDirection = Array.from(input.direction as Float64Array);
      direction.forEach((value, index) =>
        expect(Math.abs(value - inputDirection[index]), file).toBeLessThan(1e-6),
      );
    }
  });

  it('puts at least 99 % of the map inside the lung mask', async () => {
    const map = (await readImageNode(join(jsonOut, 'map.nii.gz'))).data as Float32Array;
    const mask = (await readImageNode(join(jsonOut, 'lung-mask.nii.gz'))).data as Uint8Array;
    let inside = 0;
    let total = 0;
    for (let n = 0; n < map.length; n++) {
      total += Math.abs(map[n]);
      if (mask[n] !== 0) inside += Math.abs(map[n]);
    }
    expect(total).toBeGreaterThan(0);
    expect(inside / total).toBeGreaterThanOrEqual(0.99);
  });
});

describe('dlco predict summary', () => {
  it('prints the estimate, reference, zones and intended use', async () => {
    const run = await runs.text;
    expect(run.code, run.stderr).toBe(0);
    for (const text of [
      'Estimate',
      'Predicted',
      'LLN',
      '% predicted',
      'z-score',
      'Baseline',
      'right-upper-rind',
      'dlco-ct-tiny-model',
      'Research use, not diagnosis.',
    ]) {
      expect(run.stdout).toContain(text);
    }
    expect(run.stdout).toMatch(/^ {2}Scan {10}ct-64\.nrrd$/m);
  });

  it('labels the three lung volumes', async () => {
    const run = await runs.text;
    const zoneTotal = /^total\s+(\d+)/m.exec(run.stdout)?.[1];
    const inPatches = /^ {2}inside patches\s+(\d+) {2}\(/m.exec(run.stdout)?.[1];

    expect(run.stdout).toMatch(/^ {2}segmented, 2 mm working grid\s+\d+ {2}\(inspect/m);
    expect(run.stdout).toMatch(/^ {2}QCT, scan grid\s+\d+ {2}\(inspect QCT/m);
    expect(zoneTotal).toBeDefined();
    expect(inPatches).toBe(zoneTotal);
  });

  it('prints the haemoglobin warning once', async () => {
    const run = await runs.withoutHb;
    const warning = 'not Hb-corrected because no haemoglobin was given';

    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.split(warning)).toHaveLength(2);
    expect(run.stderr).not.toContain(warning);
    expect(run.stdout).toContain('Give Hb in g/dL');
  });
});

describe('dlco predict failures', () => {
  it('EXPECTED FAILURE - two slices write nothing', async () => {
    const run = await runs.twoSlices;
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('error [INPUT_TOO_FEW_SLICES]');
    expect(existsSync(join(failedParent, 'out'))).toBe(false);
    expect(existsSync(failedParent) ? readdirSync(failedParent) : []).toEqual([]);
  });

  it('EXPECTED FAILURE - missing --weight', async () => {
    const run = await runs.missingWeight;
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('error [METADATA_INVALID]');
    expect(run.stderr).toContain('--weight');
    expect(run.stdout).toBe('');
  });

  it('EXPECTED FAILURE - invalid --sex', async () => {
    const run = await runs.invalidSex;
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('error [METADATA_INVALID]');
    expect(run.stderr).toContain('--sex');
  });

  it('EXPECTED FAILURE - height in metres', async () => {
    const run = await runs.heightInMetres;
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      'error [METADATA_INVALID]: --height 1.75 is outside 50 to 250 cm; 1.75 looks like ' +
        'metres, but --height is in cm: give 175.\n',
    );
  });

  it('BAD CALL - --out under a file fails before the model loads', async () => {
    const run = await runs.outUnderFile;
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('error [OUTPUT_PATH_INVALID]');
    expect(run.stderr).toContain(`${plainFile} is a file, not a folder`);
    expect(run.stderr).not.toContain('ENOTDIR');
    expect(run.stderr).not.toContain('MODEL_NOT_FOUND');
  });

  it('EXPECTED FAILURE - missing model folder', async () => {
    const run = await runs.missingModel;
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('error [MODEL_NOT_FOUND]');
  });

  it('EXPECTED FAILURE - model on other preprocessing', async () => {
    const run = await runs.incompatible;
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error [MODEL_INCOMPATIBLE]');
    expect(run.stderr).toContain('a'.repeat(64));
  });
});

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateSync } from 'node:zlib';

import { createRandom } from '@dlco/eval';
import { writeFloatVolume, writeLabelVolume } from '@dlco/preprocess';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CLI_ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const DLCO_BIN = join(CLI_ROOT, 'bin/dlco.js');

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

function runDlco(args: string[]): Promise<CliRun> {
  return new Promise((resolvePromise) => {
    execFile(process.execPath, [DLCO_BIN, ...args], (error, stdout, stderr) => {
      let code = 0;
      if (error !== null) code = typeof error.code === 'number' ? error.code : -1;
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** Builds a valid 1 × 1 grey PNG (signature, IHDR, IDAT, IEND) for a stand-in overlay image. */
function onePixelPng(): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  // Width 1, height 1, bit depth 8, colour type 0 (grey), then default compression, filter and
  // interlace methods.
  const header = Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.from([0, 128]))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const workDir = mkdtempSync(join(tmpdir(), 'dlco-cli-eval-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

const PREDICTIONS = join(workDir, 'predictions.csv');
const LABELS = join(workDir, 'labels.csv');
const OTHER = join(workDir, 'other.csv');
const SUBJECTS = 30;

/**
 * Writes a cohort of 30 subjects: s0 failed, s29 has no label, and `extra` has a label but no
 * prediction. The model is off by up to ±3 ml/min/mmHg, the baseline by up to ±6.
 */
function writeCohort(): void {
  const random = createRandom(2024);
  const labels = ['id,dlco,age,sex,height_cm,weight_kg,smoking,scanner_profile,site'];
  const predictions = ['id,estimate,z_score,baseline_estimate,status,error'];
  const other = ['id,estimate,status'];
  for (let i = 0; i < SUBJECTS; i++) {
    const id = `s${i}`;
    const measured = 10 + 20 * random();
    const sex = i % 2 === 0 ? 'F' : 'M';
    const age = 35 + Math.floor(45 * random());
    const height = sex === 'F' ? 165 : 178;
    const smoking = ['never', 'former', 'current'][i % 3];
    if (i < SUBJECTS - 1) {
      labels.push(
        `${id},${measured.toFixed(2)},${age},${sex},${height},${60 + i},${smoking},` +
          `${i % 4 === 0 ? 'sharp' : 'soft'},${i < 5 ? 'B' : 'A'}`,
      );
    }
    if (i === 0) {
      predictions.push(`${id},,,,failed,PREPROCESS_FAILED: no lung found`);
      continue;
    }
    const estimate = measured + 6 * (random() - 0.5);
    const baseline = measured + 12 * (random() - 0.5);
    predictions.push(`${id},${estimate.toFixed(2)},,${baseline.toFixed(2)},ok,`);
    other.push(`${id},${baseline.toFixed(2)},ok`);
  }
  labels.push('extra,20,50,F,165,60,never,soft,A');
  writeFileSync(LABELS, `${labels.join('\n')}\n`);
  writeFileSync(PREDICTIONS, `${predictions.join('\n')}\n`);
  writeFileSync(OTHER, `${other.join('\n')}\n`);
}

beforeAll(writeCohort);

function evalArgs(outDir: string, extra: string[] = []): string[] {
  return [
    'eval',
    PREDICTIONS,
    '--labels',
    LABELS,
    '--out',
    outDir,
    '--bootstrap',
    '200',
    '--seed',
    '5',
    ...extra,
  ];
}

describe('dlco eval', () => {
  const outDir = join(workDir, 'out');
  let run: CliRun;
  beforeAll(async () => {
    run = await runDlco(evalArgs(outDir, ['--strata', 'site', '--baseline', OTHER]));
  });

  it('exits 0 and prints the summary', () => {
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('28 subjects evaluated, 1 failed predictions');
    expect(run.stdout).toContain('failed: s0: PREPROCESS_FAILED: no lung found');
  });

  it('metrics.json accounts for every id', () => {
    const metrics = JSON.parse(readFileSync(join(outDir, 'metrics.json'), 'utf8'));
    expect(metrics.n).toBe(28);
    expect(metrics.seed).toBe(5);
    expect(metrics.resamples).toBe(200);
    expect(metrics.subjects.failed).toEqual([
      { id: 's0', error: 'PREPROCESS_FAILED: no lung found' },
    ]);
    expect(metrics.subjects.labelsOnly).toEqual(['extra']);
    expect(metrics.subjects.predictionsOnly).toEqual(['s29']);
    expect(metrics.overall.mae.estimate).toBeGreaterThan(0);
    expect(metrics.overall.mae.lower).toBeLessThanOrEqual(metrics.overall.mae.estimate);
    expect(metrics.classification.thresholds[0].n).toBe(28);
  });

  it('tables cover strata and comparisons', () => {
    const strata = readFileSync(join(outDir, 'strata.csv'), 'utf8');
    for (const stratum of ['sex', 'age_band', 'bmi_class', 'smoking', 'scanner_profile']) {
      expect(strata).toContain(`\n${stratum},`);
    }
    expect(strata).toMatch(/\nsite,B,4,true,/);
    const comparisons = readFileSync(join(outDir, 'comparisons.csv'), 'utf8').trim().split('\n');
    expect(comparisons).toHaveLength(3);
    expect(comparisons[1]).toMatch(/^model,baseline_estimate,28,/);
    expect(comparisons[2]).toMatch(/^model,other\.csv,28,/);
    expect(existsSync(join(outDir, 'overall.csv'))).toBe(true);
    expect(existsSync(join(outDir, 'classification.csv'))).toBe(true);
  });

  it('writes a self-contained report.html', () => {
    const html = readFileSync(join(outDir, 'report.html'), 'utf8');
    expect(html).toContain('Research use, not diagnosis.');
    expect(html).toContain('28 evaluated');
    expect(html).toContain('<div class="plot" id="plot-scatter">');
    expect(html).toContain('<div class="plot" id="plot-forest">');
    expect(html).not.toMatch(/<script[^>]*\ssrc=/);
    expect(html).not.toMatch(/<link[^>]*\shref=/);
    expect(html).toContain('No result folder in');
  });

  it('example embeds the chosen overlay', async () => {
    mkdirSync(join(workDir, 's5'), { recursive: true });
    const png = onePixelPng();
    writeFileSync(join(workDir, 's5', 'overlay.png'), png);
    const exampleOut = join(workDir, 'example');
    const withExample = await runDlco(evalArgs(exampleOut, ['--example', 's5']));
    expect(withExample.code).toBe(0);
    const html = readFileSync(join(exampleOut, 'report.html'), 'utf8');
    expect(html).toContain(`src="data:image/png;base64,${png.toString('base64')}"`);
    expect(html).toContain('Subject s5, model not named (chosen)');
  });

  it('same seed reproduces metrics.json', async () => {
    const again = join(workDir, 'again');
    const rerun = await runDlco(evalArgs(again, ['--strata', 'site', '--baseline', OTHER]));
    expect(rerun.code).toBe(0);
    const first = JSON.parse(readFileSync(join(outDir, 'metrics.json'), 'utf8'));
    const second = JSON.parse(readFileSync(join(again, 'metrics.json'), 'utf8'));
    expect({ ...second, inputs: undefined }).toEqual({ ...first, inputs: undefined });
  });

  it('BAD CALL - unknown strata column', async () => {
    const failed = await runDlco(evalArgs(join(workDir, 'bad'), ['--strata', 'hospital']));
    expect(failed.code).toBe(2);
    expect(failed.stderr).toContain('error [EVAL_COLUMN_MISSING]');
    expect(existsSync(join(workDir, 'bad'))).toBe(false);
  });

  it('BAD CALL - example id not evaluated', async () => {
    const failed = await runDlco(evalArgs(join(workDir, 'bad'), ['--example', 's0']));
    expect(failed.code).toBe(2);
    expect(failed.stderr).toContain('error [EVAL_INPUT_INVALID]: --example s0 is not');
    expect(existsSync(join(workDir, 'bad'))).toBe(false);
  });

  it('BAD CALL - invalid bootstrap count', async () => {
    const failed = await runDlco(evalArgs(join(workDir, 'bad'), ['--bootstrap', '0']));
    expect(failed.code).toBe(1);
    expect(failed.stderr).toBe(
      "error: option '--bootstrap <n>' argument '0' is invalid. " +
        'Expected a whole number from 200 to 100000.\n',
    );
  });

  it('BAD CALL - bootstrap count out of range', async () => {
    for (const count of ['199', '100001']) {
      const failed = await runDlco(evalArgs(join(workDir, 'bad'), ['--bootstrap', count]));
      expect(failed.code).toBe(1);
      expect(failed.stderr).toContain('Expected a whole number from 200 to 100000.');
    }
  });

  it('BAD CALL - seed above 32 bits', async () => {
    const failed = await runDlco(evalArgs(join(workDir, 'bad'), ['--seed', '4294967297']));
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('Expected a whole number from 0 to 4294967295.');
  });

  it('BAD CALL - header-only labels', async () => {
    const headerOnly = join(workDir, 'header-only.csv');
    writeFileSync(headerOnly, 'id,dlco\n');
    const args = evalArgs(join(workDir, 'bad'));
    args[3] = headerOnly;
    const failed = await runDlco(args);
    expect(failed.code).toBe(2);
    expect(failed.stderr).toBe(
      `error [EVAL_INPUT_INVALID]: ${headerOnly} has a header but no rows. ` +
        'Add one row per subject.\n',
    );
  });

  it('warns about labels in mmol/min/kPa', async () => {
    const lines = readFileSync(LABELS, 'utf8').trim().split('\n');
    const si = lines.map((line, i) => {
      if (i === 0) return line;
      const cells = line.split(',');
      cells[1] = (Number(cells[1]) / 2.986).toFixed(3);
      return cells.join(',');
    });
    const siLabels = join(workDir, 'labels-si.csv');
    writeFileSync(siLabels, `${si.join('\n')}\n`);
    const out = join(workDir, 'si-out');
    const args = evalArgs(out);
    args[3] = siLabels;
    const run = await runDlco(args);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('the dlco column looks like mmol/min/kPa');
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    expect(metrics.warnings).toHaveLength(1);
  });

  it('BAD CALL - out holds other files', async () => {
    const userDir = join(workDir, 'user-folder');
    mkdirSync(join(userDir, 'sub'), { recursive: true });
    writeFileSync(join(userDir, 'thesis.docx'), 'precious');
    writeFileSync(join(userDir, 'sub', 'data.csv'), 'x');
    const failed = await runDlco(evalArgs(userDir));
    expect(failed.code).toBe(2);
    expect(failed.stderr).toContain('error [OUTPUT_EXISTS]');
    expect(failed.stderr).toContain('thesis.docx');
    expect(readFileSync(join(userDir, 'thesis.docx'), 'utf8')).toBe('precious');
    expect(readFileSync(join(userDir, 'sub', 'data.csv'), 'utf8')).toBe('x');
  });

  it('BAD CALL - out is the inputs folder', async () => {
    const failed = await runDlco(evalArgs(workDir));
    expect(failed.code).toBe(2);
    expect(failed.stderr).toContain('error [OUTPUT_EXISTS]');
    expect(existsSync(PREDICTIONS)).toBe(true);
    expect(existsSync(LABELS)).toBe(true);
  });

  it('reruns into an earlier evaluation', async () => {
    const rerunDir = join(workDir, 'rerun');
    expect((await runDlco(evalArgs(rerunDir))).code).toBe(0);
    const rerun = await runDlco(evalArgs(rerunDir, ['--seed', '6']));
    expect(rerun.code).toBe(0);
    expect(JSON.parse(readFileSync(join(rerunDir, 'metrics.json'), 'utf8')).seed).toBe(6);
  });

  it('BAD CALL - out under a file', async () => {
    const failed = await runDlco(evalArgs(join(PREDICTIONS, 'sub')));
    expect(failed.code).toBe(2);
    expect(failed.stderr).toContain('error [OUTPUT_PATH_INVALID]');
    expect(failed.stderr).toContain('--out');
  });
});

/**
 * Writes a simulated-style cohort of three subjects, the last one vascular: truth volumes of
 * 8 × 4 × 4 voxels at 1 mm and result folders with two 4 mm patches each. Patch 1 contains the
 * deficit and the lesion, and the model's deficit ranks it first.
 */
async function writeTruthCohort(dir: string): Promise<void> {
  const geometry = {
    size: [8, 4, 4] as [number, number, number],
    spacingMm: [1, 1, 1] as [number, number, number],
    originMm: [0, 0, 0] as [number, number, number],
    direction: Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1),
  };
  const labels = ['id,dlco,phenotype,truth_path'];
  const predictions = ['id,estimate'];
  const gradcam = ['id,patch_index,value'];
  for (const id of ['t1', 't2', 't3']) {
    const truthDir = join(dir, 'truth', id);
    mkdirSync(truthDir, { recursive: true });
    const deficit = new Float32Array(128);
    const lesion = new Uint8Array(128).fill(1);
    for (let index = 0; index < 128; index++) {
      if (index % 8 >= 4) deficit[index] = 0.05;
    }
    lesion[4] = 2;
    await writeFloatVolume(join(truthDir, 'deficit.nii.gz'), geometry, deficit);
    await writeLabelVolume(join(truthDir, 'labels.nii.gz'), { ...geometry, data: lesion });
    const resultDir = join(dir, 'run', id);
    mkdirSync(resultDir, { recursive: true });
    const patches = [0, 1].map((n) => ({
      index: n,
      zone: n === 0 ? 'right-upper-core' : 'right-lower-core',
      centerMm: [4 * n + 1.5, 1.5, 1.5],
      deficitMlMinMmHg: n === 0 ? 0.1 : 2,
    }));
    writeFileSync(
      join(resultDir, 'result.json'),
      JSON.stringify({
        preprocessing: { params: { workingSpacingMm: 2, patchSizeVoxels: 2 } },
        patches,
        regions: [],
        explanations: {},
      }),
    );
    labels.push(`${id},20,${id === 't3' ? 'vascular' : 'centrilobular'},truth/${id}`);
    predictions.push(`${id},19`);
    gradcam.push(`${id},0,1`, `${id},1,0`);
  }
  writeFileSync(join(dir, 'manifest.csv'), `${labels.join('\n')}\n`);
  writeFileSync(join(dir, 'run', 'predictions.csv'), `${predictions.join('\n')}\n`);
  writeFileSync(join(dir, 'gradcam.csv'), `${gradcam.join('\n')}\n`);
}

describe('dlco eval faithfulness', () => {
  const cohort = join(workDir, 'truth-cohort');
  const outDir = join(workDir, 'faithfulness-out');
  const truthArgs = (out: string, extra: string[] = []) => [
    'eval',
    join(cohort, 'run', 'predictions.csv'),
    '--labels',
    join(cohort, 'manifest.csv'),
    '--out',
    out,
    '--bootstrap',
    '200',
    ...extra,
  ];
  let run: CliRun;
  beforeAll(async () => {
    await writeTruthCohort(cohort);
    run = await runDlco(
      truthArgs(outDir, ['--explanation', `gradcam=${join(cohort, 'gradcam.csv')}`]),
    );
  });

  it('exits 0 and prints faithfulness', () => {
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('faithfulness: 3 subjects with truth, 0 without result.json');
    expect(run.stdout).toMatch(/ {2}contributions: zoneSpearman n\/a/);
    expect(run.stdout).toContain('  contributions (vascular, negative control): zoneSpearman');
  });

  it('metrics.json has the faithfulness key', () => {
    const metrics = JSON.parse(readFileSync(join(outDir, 'metrics.json'), 'utf8'));
    expect(metrics.faithfulness.methods).toEqual(['contributions', 'gradcam']);
    expect(metrics.faithfulness.subjects.evaluated).toBe(3);
    const contributions = metrics.faithfulness.groups.find(
      (group: { phenotype: string; method: string }) =>
        group.phenotype === 'all' && group.method === 'contributions',
    );
    // Two zones are too few for a rank correlation, so every rho is undefined.
    // The vascular subject is only in its own group.
    expect(contributions.metrics.zoneSpearman.nUndefined).toBe(2);
    expect(contributions.metrics.pointingGame.estimate).toBe(1);
    expect(contributions.metrics.recoveryAuc.estimate).toBeCloseTo(1, 6);
  });

  it('writes both faithfulness tables', () => {
    const groups = readFileSync(join(outDir, 'faithfulness.csv'), 'utf8');
    expect(groups).toContain('\ngradcam,all,pointingGame,mean,2,0,0,0,');
    expect(groups).toContain('\ngradcam,vascular,pointingGame,mean,1,0,0,0,');
    const subjects = readFileSync(join(outDir, 'faithfulness-subjects.csv'), 'utf8').trim();
    expect(subjects.split('\n')).toHaveLength(1 + 3 * 2);
  });

  it('--no-faithfulness skips the tables', async () => {
    const skipped = join(workDir, 'no-faithfulness');
    const rerun = await runDlco(truthArgs(skipped, ['--no-faithfulness']));
    expect(rerun.code).toBe(0);
    const metrics = JSON.parse(readFileSync(join(skipped, 'metrics.json'), 'utf8'));
    expect(metrics.faithfulness).toBeUndefined();
    expect(existsSync(join(skipped, 'faithfulness.csv'))).toBe(false);
  });

  it('BAD CALL - missing results folder', async () => {
    const bad = join(workDir, 'bad-results');
    const failed = await runDlco(truthArgs(bad, ['--results', join(cohort, 'nowhere')]));
    expect(failed.code).toBe(2);
    expect(failed.stderr).toContain('error [EVAL_FILE_NOT_FOUND]');
    expect(failed.stderr).toContain('nowhere');
    expect(existsSync(bad)).toBe(false);
  });

  it('BAD CALL - explanation without name', async () => {
    const failed = await runDlco(truthArgs(join(workDir, 'bad'), ['--explanation', 'gradcam.csv']));
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toBe(
      "error: option '--explanation <name=csv>' argument 'gradcam.csv' is invalid. " +
        'Expected NAME=CSV, for example gradcam=gradcam.csv.\n',
    );
  });

  it('BAD CALL - explanation matches no id', async () => {
    const unknown = join(cohort, 'unknown.csv');
    writeFileSync(unknown, 'id,patch_index,value\nnosuchsubject,0,1\nnosuchsubject,1,0\n');
    const bad = join(workDir, 'bad-explanation');
    const failed = await runDlco(truthArgs(bad, ['--explanation', `x=${unknown}`]));
    expect(failed.code).toBe(2);
    expect(failed.stderr).toContain('error [EVAL_INPUT_INVALID]: --explanation x=');
    expect(failed.stderr).toContain('has no row for any of the 3 subjects');
    expect(existsSync(bad)).toBe(false);
  });

  it('warns about explanation ids not evaluated', async () => {
    const partial = join(cohort, 'partial.csv');
    const rows = readFileSync(join(cohort, 'gradcam.csv'), 'utf8').trim().split('\n');
    writeFileSync(partial, `${[...rows, 'ghost,0,1', 'ghost,1,0'].join('\n')}\n`);
    const out = join(workDir, 'partial-explanation');
    const run = await runDlco(truthArgs(out, ['--explanation', `x=${partial}`]));
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('has rows for 1 ids that were not evaluated for faithfulness');
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    expect(metrics.faithfulness.warnings).toHaveLength(1);
    expect(metrics.faithfulness.warnings[0]).toContain('(ghost)');
  });

  it('warns when a truth folder mismatches', async () => {
    const metrics = JSON.parse(readFileSync(join(outDir, 'metrics.json'), 'utf8'));
    const totals = new Map<string, number>(
      metrics.faithfulness.perSubject.map((row: { id: string; truthTotal: number }) => [
        row.id,
        row.truthTotal,
      ]),
    );
    const rows = readFileSync(join(cohort, 'manifest.csv'), 'utf8').trim().split('\n');
    const checked = rows.map((row, i) => {
      if (i === 0) return `${row},dlco_predicted,dlco_structural`;
      const id = row.split(',')[0];
      // t2's columns claim 1 ml/min/mmHg more deficit than its truth folder holds.
      const total = totals.get(id)! + (id === 't2' ? 1 : 0);
      return `${row},${(30 + total).toFixed(4)},30`;
    });
    writeFileSync(join(cohort, 'manifest-checked.csv'), `${checked.join('\n')}\n`);
    const out = join(workDir, 'truth-mismatch');
    const args = truthArgs(out);
    args[3] = join(cohort, 'manifest-checked.csv');
    const run = await runDlco(args);
    expect(run.code).toBe(0);
    const warnings = run.stderr
      .split('\n')
      .filter((line) => line.startsWith('warning:') && !line.includes('subjects were evaluated'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('the truth folder of t2 sums to a deficit of');
  });

  it('BAD CALL - explanation with --no-faithfulness', async () => {
    const bad = join(workDir, 'bad-no-faithfulness');
    const failed = await runDlco(
      truthArgs(bad, ['--no-faithfulness', '--explanation', 'x=missing.csv']),
    );
    expect(failed.code).toBe(2);
    expect(failed.stderr).toContain('error [EVAL_INPUT_INVALID]: --explanation is scored only');
    expect(existsSync(bad)).toBe(false);
  });

  it('skips faithfulness when results are elsewhere', async () => {
    const moved = join(workDir, 'moved');
    mkdirSync(moved, { recursive: true });
    writeFileSync(
      join(moved, 'predictions.csv'),
      readFileSync(join(cohort, 'run', 'predictions.csv')),
    );
    const out = join(workDir, 'moved-out');
    const args = truthArgs(out);
    args[1] = join(moved, 'predictions.csv');
    const run = await runDlco(args);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('warning: faithfulness skipped: no subject has both');
    expect(run.stderr).toContain('--no-faithfulness');
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    expect(metrics.faithfulness).toBeUndefined();
  });

  it('BAD CALL - results without truth_path', async () => {
    const failed = await runDlco(evalArgs(join(workDir, 'bad'), ['--results', workDir]));
    expect(failed.code).toBe(2);
    expect(failed.stderr).toContain('error [EVAL_COLUMN_MISSING]');
    expect(failed.stderr).toContain('truth_path');
  });
});

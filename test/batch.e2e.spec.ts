import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { pickModelDir, runDlco, SCANS, type CliRun } from './support/e2e-support.ts';

const model = pickModelDir();
const workDir = mkdtempSync(join(tmpdir(), 'dlco-batch-e2e-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

const HEADER = 'id,path,age,sex,height_cm,weight_kg,smoking,pack_years,hb_g_dl,cohb_percent';
const COLUMNS = [
  'id',
  'estimate',
  'lower',
  'upper',
  'predicted',
  'lln',
  'z_score',
  'percent_predicted',
  'baseline_estimate',
  'model_id',
  'status',
  'error',
];

/** A scan path written relative to the manifest's folder, as users write them. */
const fromWorkDir = (path: string) => relative(workDir, path);

/** Copied in between the first and second run, so the second run must retry it. */
const lateScan = join(workDir, 'late.nrrd');

function batchArgs(manifest: string, outDir: string, ...extra: string[]): string[] {
  return ['batch', manifest, '--out', outDir, '--model', model.dir, ...extra];
}

function writeManifest(name: string, rows: string[]): string {
  const path = join(workDir, name);
  writeFileSync(path, `${[HEADER, ...rows].join('\n')}\n`);
  return path;
}

/** Parses predictions.csv into one record per row, keyed by column name. */
function readPredictions(outDir: string): Record<string, string>[] {
  const lines = readFileSync(join(outDir, 'predictions.csv'), 'utf8').trimEnd().split('\n');
  const header = lines[0].split(',');
  return lines.slice(1).map((line) => {
    // The error column is last and may be quoted with commas inside.
    const cells = line.split(',');
    const record: Record<string, string> = {};
    header.forEach((name, index) => (record[name] = cells[index] ?? ''));
    record.error = cells.slice(header.length - 1).join(',');
    return record;
  });
}

function byId(rows: Record<string, string>[]): Map<string, Record<string, string>> {
  return new Map(rows.map((row) => [row.id, row]));
}

describe('dlco batch on real scans', () => {
  const outDir = join(workDir, 'out');
  let manifest: string;
  let first: CliRun;
  let firstResultMtimeMs: number;
  let second: CliRun;

  beforeAll(async () => {
    manifest = writeManifest('manifest.csv', [
      `ct64-nrrd,${fromWorkDir(SCANS.ct64Nrrd)},60,M,175,80,former,20,14.5,1.2`,
      `ct64-dicom,${fromWorkDir(SCANS.ct64Dicom)},55,F,162,61,never,,,`,
      `cropped,${fromWorkDir(SCANS.thoraxCrop)},70,M,180,90,current,40,,`,
      `late,late.nrrd,48,F,168,70,,,,`,
    ]);
    first = await runDlco(batchArgs(manifest, outDir, '--concurrency', '2'));
    firstResultMtimeMs = statSync(join(outDir, 'ct64-nrrd', 'result.json')).mtimeMs;
    copyFileSync(SCANS.ct64Nrrd, lateScan);
    second = await runDlco(batchArgs(manifest, outDir));
  });

  it('exits non-zero and lists the failed scans', () => {
    expect(first.code).toBe(2);
    expect(first.stderr).toContain('2 of 4 scans failed');
    expect(first.stderr).toContain('cropped: error [LUNG_COVERAGE_INCOMPLETE]');
    expect(first.stderr).toContain('late: error [INPUT_NOT_FOUND]');
    expect(first.stdout).toContain('2 predicted, 0 skipped (already ok), 2 failed');
  });

  it('keeps one predictions.csv row per scan in manifest order', () => {
    // Each unsharded run rewrites the file with the last row of each id.
    const rows = readPredictions(outDir);
    expect(rows.map((row) => row.id)).toEqual(['ct64-nrrd', 'ct64-dicom', 'cropped', 'late']);
    const header = readFileSync(join(outDir, 'predictions.csv'), 'utf8').split('\n')[0];
    for (const column of COLUMNS) expect(header.split(',')).toContain(column);
  });

  it('fills every value column of an ok row', () => {
    const row = byId(readPredictions(outDir)).get('ct64-nrrd')!;
    expect(row.status).toBe('ok');
    expect(row.error).toBe('');
    for (const column of ['estimate', 'lower', 'upper', 'predicted', 'lln', 'z_score']) {
      expect(Number.isFinite(Number(row[column])), column).toBe(true);
      expect(row[column], column).not.toBe('');
    }
    expect(Number(row.lower)).toBeLessThanOrEqual(Number(row.estimate));
    expect(Number(row.upper)).toBeGreaterThanOrEqual(Number(row.estimate));
    console.log(`batch ct64-nrrd (${model.name} model): estimate ${row.estimate} ml/min/mmHg`);
  });

  it('writes a result folder per predicted scan only', () => {
    for (const id of ['ct64-nrrd', 'ct64-dicom', 'late']) {
      for (const file of ['result.json', 'map.nii.gz', 'lung-mask.nii.gz']) {
        expect(existsSync(join(outDir, id, file)), `${id}/${file}`).toBe(true);
      }
    }
    expect(existsSync(join(outDir, 'cropped'))).toBe(false);
  });

  it('resumes: skips ok ids and retries failed ones', () => {
    expect(second.stdout).toContain('1 predicted, 2 skipped (already ok), 1 failed');
    expect(second.code).toBe(2);
    expect(second.stderr).toContain('1 of 4 scans failed');
    expect(statSync(join(outDir, 'ct64-nrrd', 'result.json')).mtimeMs).toBe(firstResultMtimeMs);
    const rows = byId(readPredictions(outDir));
    expect(rows.get('late')?.status).toBe('ok');
    expect(rows.get('cropped')?.status).toBe('failed');
    expect(rows.get('cropped')?.error).toMatch(/^"?LUNG_COVERAGE_INCOMPLETE: /);
  });
});

describe('dlco batch --shard', () => {
  const missingRows = [1, 2, 3, 4, 5].map((n) => `scan${n},missing-${n}.nii.gz,60,M,175,80,,,,`);

  it('processes every N-th row from row I', async () => {
    const manifest = writeManifest('missing.csv', missingRows);
    const outDir = join(workDir, 'shard');
    const run = await runDlco(batchArgs(manifest, outDir, '--shard', '2/2'));
    expect(run.code).toBe(2);
    expect(readPredictions(outDir).map((row) => row.id)).toEqual(['scan2', 'scan4']);
  });

  it('drops a row cut short by an earlier crash', async () => {
    const manifest = writeManifest('missing-repair.csv', missingRows.slice(0, 1));
    const outDir = join(workDir, 'repair');
    mkdirSync(outDir);
    const header = readFileSync(join(workDir, 'shard', 'predictions.csv'), 'utf8').split('\n')[0];
    writeFileSync(join(outDir, 'predictions.csv'), `${header}\nscan9,21.5,1`);
    const run = await runDlco(batchArgs(manifest, outDir));
    expect(run.code).toBe(2);
    expect(readPredictions(outDir).map((row) => row.id)).toEqual(['scan1']);
  });

  it.each(['0/2', '3/2', '1/0', 'x', '1/2/3'])('BAD CALL - rejects --shard %s', async (shard) => {
    const manifest = writeManifest('bad-shard.csv', missingRows.slice(0, 1));
    const outDir = join(workDir, `bad-shard-${shard.replace(/\W/g, '_')}`);
    const run = await runDlco(batchArgs(manifest, outDir, '--shard', shard));
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(`option '--shard <i/n>' argument '${shard}' is invalid.`);
    expect(run.stderr).toContain('Expected I/N with whole numbers');
    expect(existsSync(outDir)).toBe(false);
  });
});

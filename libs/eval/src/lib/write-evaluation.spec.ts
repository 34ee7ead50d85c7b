import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { evaluatePredictions } from './evaluate.ts';
import type { LabelsFile } from './read-labels.ts';
import type { PredictionsFile } from './read-predictions.ts';
import { EVALUATION_FILES, evaluationTables, writeEvaluation } from './write-evaluation.ts';

const workDir = mkdtempSync(join(tmpdir(), 'dlco-eval-write-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

const MEASURED = [12, 18, 22, 25, 30, 16];
const predictions: PredictionsFile = {
  path: 'predictions.csv',
  duplicateIds: [],
  records: MEASURED.map((value, i) => ({
    id: `s${i}`,
    status: 'ok',
    estimate: value + (i % 2 === 0 ? 2 : -1),
    lower: null,
    upper: null,
    predicted: null,
    lln: null,
    zScore: null,
    percentPredicted: null,
    baselineEstimate: null,
    error: '',
  })),
};
const labels: LabelsFile = {
  path: 'labels.csv',
  metadataColumns: ['sex'],
  records: MEASURED.map((value, i) => ({ id: `s${i}`, dlco: value, metadata: { sex: 'F' } })),
};
const report = evaluatePredictions(predictions, labels, { resamples: 50, seed: 2 });

describe('writeEvaluation', () => {
  it('writes metrics.json and tables', async () => {
    const outDir = join(workDir, 'fresh');
    await writeEvaluation(report, outDir);
    const metrics = JSON.parse(readFileSync(join(outDir, EVALUATION_FILES.metrics), 'utf8'));
    expect(metrics.seed).toBe(2);
    expect(metrics.overall.mae.estimate).toBeCloseTo(1.5, 12);
    // No age or height, so every classification statistic is undefined and written as null.
    expect(metrics.classification.thresholds[0].auc.estimate).toBeNull();
    const overall = readFileSync(join(outDir, EVALUATION_FILES.overall), 'utf8').split('\n');
    expect(overall[0]).toBe('metric,unit,description,n,value,value_lower,value_upper');
    expect(overall[1]).toMatch(/^mae,ml\/min\/mmHg,mean absolute error,6,1\.5,/);
  });

  it('constant measured leaves R² empty', () => {
    const constant: LabelsFile = {
      ...labels,
      records: labels.records.map((record) => ({ ...record, dlco: 20 })),
    };
    const tables = evaluationTables(evaluatePredictions(predictions, constant, { resamples: 50 }));
    const rows = tables[EVALUATION_FILES.overall].split('\n');
    const row = rows.find((line) => line.startsWith('rSquared,'));
    expect(row).toMatch(/,6,,,$/);
  });

  it('replaces an earlier evaluation', async () => {
    const outDir = join(workDir, 'again');
    await writeEvaluation(report, outDir);
    writeFileSync(join(outDir, EVALUATION_FILES.metrics), '{}');
    await writeEvaluation(report, outDir);
    expect(readdirSync(outDir).sort()).toEqual(Object.values(EVALUATION_FILES).sort());
    expect(readFileSync(join(outDir, EVALUATION_FILES.metrics), 'utf8')).toContain('"seed": 2');
    expect(readdirSync(workDir).filter((name) => name.startsWith('.'))).toEqual([]);
  });

  it('BAD CALL - folder with other files', async () => {
    const outDir = join(workDir, 'user');
    mkdirSync(join(outDir, 'sub'), { recursive: true });
    writeFileSync(join(outDir, 'thesis.docx'), 'precious');
    writeFileSync(join(outDir, 'sub', 'data.csv'), 'x');
    await expect(writeEvaluation(report, outDir)).rejects.toMatchObject({
      code: 'OUTPUT_EXISTS',
    });
    expect(readdirSync(outDir).sort()).toEqual(['sub', 'thesis.docx']);
    expect(readFileSync(join(outDir, 'thesis.docx'), 'utf8')).toBe('precious');
  });

  it('BAD CALL - output names beside a user file', async () => {
    const outDir = join(workDir, 'mixed');
    mkdirSync(outDir);
    writeFileSync(join(outDir, EVALUATION_FILES.metrics), '{}');
    writeFileSync(join(outDir, 'predictions.csv'), 'id,estimate\n');
    await expect(writeEvaluation(report, outDir)).rejects.toMatchObject({
      code: 'OUTPUT_EXISTS',
    });
    expect(readdirSync(outDir).sort()).toEqual([EVALUATION_FILES.metrics, 'predictions.csv']);
  });

  it('BAD CALL - output names without metrics.json', async () => {
    const outDir = join(workDir, 'nometrics');
    mkdirSync(outDir);
    writeFileSync(join(outDir, EVALUATION_FILES.subjects), 'kept');
    await expect(writeEvaluation(report, outDir)).rejects.toMatchObject({
      code: 'OUTPUT_EXISTS',
    });
    expect(readFileSync(join(outDir, EVALUATION_FILES.subjects), 'utf8')).toBe('kept');
  });

  it('BAD CALL - out is a file', async () => {
    const outPath = join(workDir, 'file.txt');
    writeFileSync(outPath, '');
    await expect(writeEvaluation(report, outPath)).rejects.toMatchObject({
      code: 'EVAL_INPUT_INVALID',
    });
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { EvalInputError } from './errors.ts';
import { joinSubjects } from './join-subjects.ts';
import { readLabelsFile } from './read-labels.ts';
import { readPredictionsFile } from './read-predictions.ts';

const workDir = mkdtempSync(join(tmpdir(), 'dlco-eval-join-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

function writeCsv(name: string, lines: string[]): string {
  const path = join(workDir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

async function expectEvalError(promise: Promise<unknown>, code: string, column?: string) {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(EvalInputError);
  expect((error as EvalInputError).code).toBe(code);
  if (column !== undefined) expect((error as EvalInputError).column).toBe(column);
}

describe('readPredictionsFile', () => {
  it('reads batch rows and keeps the last row per id', async () => {
    const path = writeCsv('predictions.csv', [
      'id,estimate,z_score,baseline_estimate,status,error',
      '007,,,,failed,PREPROCESS_FAILED: no lung',
      '007,21.5,-0.4,20,ok,',
      'b,18,,,ok,',
    ]);
    const file = await readPredictionsFile(path);
    expect(file.records).toHaveLength(2);
    expect(file.records[0]).toMatchObject({ id: '007', estimate: 21.5, zScore: -0.4 });
    expect(file.records[1].baselineEstimate).toBeNull();
    expect(file.duplicateIds).toEqual(['007']);
  });

  it('BAD CALL - missing estimate column', async () => {
    const path = writeCsv('no-estimate.csv', ['id,dlco', 'a,20']);
    await expectEvalError(readPredictionsFile(path), 'EVAL_COLUMN_MISSING', 'estimate');
  });

  it('BAD CALL - non-numeric estimate', async () => {
    const path = writeCsv('text-estimate.csv', ['id,estimate', 'a,high']);
    await expectEvalError(readPredictionsFile(path), 'EVAL_INPUT_INVALID', 'estimate');
  });

  it('BAD CALL - unknown status', async () => {
    const path = writeCsv('status.csv', ['id,estimate,status', 'a,20,done']);
    await expectEvalError(readPredictionsFile(path), 'EVAL_INPUT_INVALID', 'status');
  });

  it('BAD CALL - estimate in another unit', async () => {
    const path = writeCsv('unit.csv', ['id,estimate,unit', 'a,7.5,mmol/min/kPa']);
    await expectEvalError(readPredictionsFile(path), 'EVAL_INPUT_INVALID', 'unit');
  });

  it('BAD CALL - missing file', async () => {
    await expectEvalError(readPredictionsFile(join(workDir, 'absent.csv')), 'EVAL_FILE_NOT_FOUND');
  });
});

describe('readLabelsFile', () => {
  it('keeps metadata columns as text', async () => {
    const path = writeCsv('labels.csv', ['id,dlco,sex,age', 'a,20.5,F,61']);
    const file = await readLabelsFile(path);
    expect(file.metadataColumns).toEqual(['sex', 'age']);
    expect(file.records[0]).toEqual({ id: 'a', dlco: 20.5, metadata: { sex: 'F', age: '61' } });
  });

  it('BAD CALL - repeated id', async () => {
    const path = writeCsv('repeat.csv', ['id,dlco', 'a,20', 'a,21']);
    await expectEvalError(readLabelsFile(path), 'EVAL_INPUT_INVALID', 'id');
  });

  it('BAD CALL - zero dlco', async () => {
    const path = writeCsv('zero.csv', ['id,dlco', 'a,0']);
    await expectEvalError(readLabelsFile(path), 'EVAL_INPUT_INVALID', 'dlco');
  });
});

describe('joinSubjects', () => {
  it('lists one-sided ids and failed rows', async () => {
    const predictions = await readPredictionsFile(
      writeCsv('join-predictions.csv', [
        'id,estimate,status,error',
        'a,20,ok,',
        'b,,failed,MODEL_FAILED: out of memory',
        'c,25,ok,',
        'p-only,30,ok,',
      ]),
    );
    const labels = await readLabelsFile(
      writeCsv('join-labels.csv', ['id,dlco', 'c,24', 'a,19', 'b,22', 'l-only,18']),
    );
    const joined = joinSubjects(predictions, labels);
    expect(joined.subjects.map((subject) => subject.id)).toEqual(['c', 'a']);
    expect(joined.subjects[0]).toMatchObject({ measured: 24, estimate: 25 });
    expect(joined.failed).toEqual([{ id: 'b', error: 'MODEL_FAILED: out of memory' }]);
    expect(joined.predictionsOnly).toEqual(['p-only']);
    expect(joined.labelsOnly).toEqual(['l-only']);
  });

  it('names a failed row without error', async () => {
    const predictions = await readPredictionsFile(
      writeCsv('no-error.csv', ['id,estimate,status', 'a,20,ok', 'b,,failed']),
    );
    const labels = await readLabelsFile(
      writeCsv('no-error-labels.csv', ['id,dlco', 'a,19', 'b,22']),
    );
    expect(joinSubjects(predictions, labels).failed).toEqual([
      { id: 'b', error: 'no error given in the predictions CSV' },
    ]);
  });
});

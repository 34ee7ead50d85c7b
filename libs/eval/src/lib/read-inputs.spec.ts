import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { readLabelsFile } from './read-labels.ts';
import { readPredictionsFile } from './read-predictions.ts';

const workDir = mkdtempSync(join(tmpdir(), 'dlco-eval-read-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

let fileCount = 0;
function csvFile(text: string): string {
  const path = join(workDir, `input-${fileCount++}.csv`);
  writeFileSync(path, text);
  return path;
}

async function predictionsError(text: string): Promise<{ code: string; message: string }> {
  const path = csvFile(text);
  try {
    await readPredictionsFile(path);
  } catch (error) {
    return error as { code: string; message: string };
  }
  throw new Error(`readPredictionsFile accepted ${JSON.stringify(text)}`);
}

describe('readPredictionsFile', () => {
  it('strips a byte order mark', async () => {
    const file = await readPredictionsFile(csvFile('\ufeffid,estimate\r\ns1,21.5\r\n'));
    expect(file.records.map((record) => [record.id, record.estimate])).toEqual([['s1', 21.5]]);
  });

  it('ignores trailing blank lines', async () => {
    const file = await readPredictionsFile(csvFile('id,estimate\ns1,21.5\ns2,20\n\n\n'));
    expect(file.records.map((record) => record.id)).toEqual(['s1', 's2']);
  });

  it('keeps quoted commas in a field', async () => {
    const text = 'id,estimate,error\ns1,21.5,"a, b"\n';
    const file = await readPredictionsFile(csvFile(text));
    expect(file.records[0].error).toBe('a, b');
  });

  it('keeps the last row of a retried id', async () => {
    const text = 'id,estimate,status,error\ns1,,failed,X: y\ns1,21.5,ok,\ns2,20,ok,\n';
    const file = await readPredictionsFile(csvFile(text));
    expect(file.duplicateIds).toEqual(['s1']);
    expect(file.records.find((record) => record.id === 's1')?.estimate).toBe(21.5);
  });

  const invalid: [string, string, RegExp][] = [
    ['empty file', '', /is empty/],
    ['header only', 'id,estimate\n', /has a header but no rows/],
    ['blank row inside', 'id,estimate\ns1,20\n\ns2,21\n', /row 2 is blank/],
    ['too many fields', 'id,estimate\ns1,20,5\n', /row 1 has 3 fields, but the header has 2/],
    ['too few fields', 'id,estimate,lower\ns1,20\n', /row 1 has 2 fields, but the header has 3/],
    [
      'hexadecimal',
      'id,estimate\ns1,0x17\n',
      /'0x17', not a finite decimal number\. Fix the cell\.$/,
    ],
    ['negative estimate', 'id,estimate\ns1,-23\n', /estimate is -23; .* must be above 0/],
    ['zero estimate', 'id,estimate\ns1,0\n', /estimate is 0; .* must be above 0/],
    ['lower above upper', 'id,estimate,lower,upper\ns1,21.5,25,18\n', /lower 25 is above upper 18/],
    [
      'disagreeing duplicate',
      'id,estimate\ns1,21.5\ns2,20\ns1,99\n',
      /row 3: id s1 repeats with estimate 99, but an earlier ok row has 21\.5/,
    ],
    ['repeated column', 'id,estimate,estimate\ns1,20,21\n', /repeats the column estimate/],
  ];
  for (const [name, text, message] of invalid) {
    it(`BAD INPUT - ${name}`, async () => {
      const error = await predictionsError(text);
      expect(error.code).toBe('EVAL_INPUT_INVALID');
      expect(error.message).toMatch(message);
    });
  }

  it('BAD INPUT - optional cell advice', async () => {
    const error = await predictionsError('id,estimate,lower\ns1,20,abc\n');
    expect(error.message).toMatch(/Fix the cell or leave it empty\.$/);
  });
});

describe('readLabelsFile', () => {
  it('strips a byte order mark', async () => {
    const file = await readLabelsFile(csvFile('\ufeffid,dlco,age\r\ns1,21.5,60\r\n'));
    expect(file.records).toEqual([{ id: 's1', dlco: 21.5, metadata: { age: '60' } }]);
  });

  it('BAD INPUT - header only', async () => {
    const path = csvFile('id,dlco\n');
    await expect(readLabelsFile(path)).rejects.toMatchObject({
      code: 'EVAL_INPUT_INVALID',
      message: `${path} has a header but no rows. Add one row per subject.`,
    });
  });

  it('BAD INPUT - dlco in hexadecimal', async () => {
    await expect(readLabelsFile(csvFile('id,dlco\ns1,0x17\n'))).rejects.toMatchObject({
      code: 'EVAL_INPUT_INVALID',
      message: expect.stringMatching(/'0x17', not a finite decimal number\. Fix the cell\.$/),
    });
  });
});

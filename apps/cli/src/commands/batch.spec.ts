import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { isModelError } from '@dlco/model';
import { isInputError } from '@dlco/preprocess';
import { InvalidArgumentError } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';

import { readBatchManifest, rowInputHash, subjectFromRow } from './batch-manifest.ts';
import {
  compactPredictions,
  failedRow,
  formatCsvRow,
  PREDICTION_COLUMNS,
  PredictionsWriter,
  readPredictions,
} from './batch-predictions.ts';
import { parseShard } from './batch.ts';

const workDir = mkdtempSync(join(tmpdir(), 'dlco-batch-spec-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

const MODEL = { id: 'test-model', version: '1' };
const HEADER = 'id,path,age,sex,height_cm,weight_kg,smoking,pack_years,hb_g_dl,cohb_percent';

function writeText(name: string, text: string): string {
  const path = join(workDir, name);
  writeFileSync(path, text);
  return path;
}

describe('parseShard', () => {
  it('reads I/N', () => {
    expect(parseShard('2/4')).toEqual({ index: 2, count: 4 });
    expect(parseShard('1/1')).toEqual({ index: 1, count: 1 });
  });

  it.each(['0/4', '5/4', '1/0', '-1/4', '1.5/4', '2', 'a/b', ''])(
    'BAD CALL - rejects %j',
    (text) => {
      expect(() => parseShard(text)).toThrow(InvalidArgumentError);
      // Commander prefixes the option and the value, so the message must not repeat them.
      expect(() => parseShard(text)).toThrow(/^Expected I\/N with whole numbers/);
    },
  );
});

describe('readBatchManifest', () => {
  it('resolves paths against the manifest folder', async () => {
    const path = writeText('m1.csv', `${HEADER}\na1,scans/a.nii.gz,60,M,175,80,,,,\n`);
    const [row] = await readBatchManifest(path);
    expect(row.id).toBe('a1');
    expect(row.path).toBe(join(workDir, 'scans/a.nii.gz'));
    expect(row.line).toBe(2);
  });

  it('EXPECTED FAILURE - missing subject column', async () => {
    const path = writeText('m2.csv', 'id,path,age,sex\na1,a.nii.gz,60,M\n');
    const error = await readBatchManifest(path).catch((caught: unknown) => caught);
    expect(isInputError(error)).toBe(true);
    expect((error as { code?: string }).code).toBe('MANIFEST_INVALID');
    expect((error as Error).message).toContain('height_cm, weight_kg');
  });

  it('EXPECTED FAILURE - repeated id', async () => {
    const path = writeText('m3.csv', `${HEADER}\na1,a,60,M,175,80\na1,b,60,M,175,80\n`);
    const error = await readBatchManifest(path).catch((caught: unknown) => caught);
    expect(isInputError(error)).toBe(true);
    expect((error as { code?: string }).code).toBe('MANIFEST_INVALID');
  });
});

describe('subjectFromRow', () => {
  it('reads required and optional columns', async () => {
    const path = writeText('s1.csv', `${HEADER}\na1,a,61.5,f,164,70,Former,12,13.5,2\n`);
    const [row] = await readBatchManifest(path);
    expect(subjectFromRow(row)).toEqual({
      ageYears: 61.5,
      sex: 'F',
      heightCm: 164,
      weightKg: 70,
      smoking: 'former',
      packYears: 12,
      hbGdl: 13.5,
      cohbPercent: 2,
    });
  });

  it.each([
    ['empty weight', 'a1,a,60,M,175,,,,,'],
    ['non-numeric age', 'a1,a,sixty,M,175,80,,,,'],
    ['non-numeric hb', 'a1,a,60,M,175,80,,,high,'],
  ])('EXPECTED FAILURE - %s', async (_name, line) => {
    const path = writeText('s2.csv', `${HEADER}\n${line}\n`);
    const [row] = await readBatchManifest(path);
    let error: unknown;
    try {
      subjectFromRow(row);
    } catch (caught) {
      error = caught;
    }
    expect(isModelError(error)).toBe(true);
    expect((error as { code?: string }).code).toBe('METADATA_INVALID');
  });
});

describe('subjectFromRow messages', () => {
  function messageFor(line: string): Promise<string> {
    const path = writeText('s3.csv', `${HEADER}\n${line}\n`);
    return readBatchManifest(path).then(([row]) => {
      try {
        subjectFromRow(row);
      } catch (error) {
        expect(isModelError(error)).toBe(true);
        return (error as Error).message;
      }
      return '';
    });
  }

  it('names the row and the column of a height in metres', async () => {
    const message = await messageFor('p7,a,60,M,1.75,80,,,,');

    expect(message).toContain("row 'p7' (line 2): height_cm 1.75 is outside 50 to 250 cm");
    expect(message).toContain('give 175');
    expect(message).not.toContain('--height');
    expect(message).not.toContain('heightCm');
  });

  it.each([
    ['age in months', 'p8,a,720,M,175,80,,,,', 'age 720', 'ageYears'],
    ['haemoglobin in g/L', 'p8,a,60,M,175,80,,,140,', 'hb_g_dl 140', 'hbGdl'],
    ['unknown sex', 'p8,a,60,X,175,80,,,,', 'sex must be M or F', '--sex'],
    ['non-numeric weight', 'p8,a,60,M,175,heavy,,,,', "invalid weight_kg 'heavy'", 'weightKg'],
  ])('names the column for %s', async (_name, line, expected, hidden) => {
    const message = await messageFor(line);

    expect(message).toContain("row 'p8' (line 2)");
    expect(message).toContain(expected);
    expect(message).not.toContain(hidden);
  });
});

describe('rowInputHash', () => {
  it('changes when a cell or the path changes', async () => {
    const path = writeText('h1.csv', `${HEADER}\na1,a,64,M,175,80,,,,\nb1,a,30,F,175,80,,,,\n`);
    const [first, second] = await readBatchManifest(path);
    const moved = { ...first, path: `${first.path}-other` };

    expect(rowInputHash(first)).toMatch(/^[0-9a-f]{16}$/);
    expect(rowInputHash({ ...second, id: first.id, cells: { ...second.cells, id: 'a1' } })).not.toBe(
      rowInputHash(first),
    );
    expect(rowInputHash(moved)).not.toBe(rowInputHash(first));
  });

  it('ignores the order of columns', async () => {
    const [row] = await readBatchManifest(writeText('h2.csv', `${HEADER}\na1,a,64,M,175,80,,,,\n`));
    const reversed = { ...row, cells: Object.fromEntries(Object.entries(row.cells).reverse()) };

    expect(rowInputHash(reversed)).toBe(rowInputHash(row));
  });
});

describe('PredictionsWriter', () => {
  it('writes the header once and appends rows', async () => {
    const writer = new PredictionsWriter(join(workDir, 'p1.csv'));
    await writer.init();
    await writer.init();
    await Promise.all([
      writer.append(failedRow('a', 'INPUT_NOT_FOUND', 'gone', MODEL)),
      writer.append(failedRow('b', 'INPUT_CORRUPT', 'bad, "quoted"\nline', MODEL)),
    ]);
    const lines = readFileSync(writer.path, 'utf8').trimEnd().split('\n');
    expect(lines[0]).toBe(PREDICTION_COLUMNS.join(','));
    expect(lines).toHaveLength(3);
    const rows = await readPredictions(writer.path);
    expect(rows.get('b')?.error).toBe('INPUT_CORRUPT: bad, "quoted" line');
    expect(rows.get('a')?.status).toBe('failed');
  });

  it('drops a row without a line end', async () => {
    const path = join(workDir, 'p2.csv');
    writeFileSync(path, `${PREDICTION_COLUMNS.join(',')}\nx,21.5,1`);
    await new PredictionsWriter(path).init();
    expect(readFileSync(path, 'utf8')).toBe(`${PREDICTION_COLUMNS.join(',')}\n`);
  });

  it('EXPECTED FAILURE - other columns', async () => {
    const path = writeText('p3.csv', 'id,value\na,1\n');
    await expect(readPredictions(path)).rejects.toThrow('pass a new --out folder');
  });
});

describe('compactPredictions', () => {
  it('keeps the last row of each id in manifest order', async () => {
    const writer = new PredictionsWriter(join(workDir, 'p4.csv'));
    await writer.init();
    await writer.append(failedRow('b', 'INPUT_NOT_FOUND', 'first try', MODEL));
    await writer.append(failedRow('a', 'INPUT_NOT_FOUND', 'only try', MODEL));
    await writer.append(failedRow('b', 'INPUT_CORRUPT', 'second try', MODEL));
    await compactPredictions(writer.path, ['a', 'b']);
    const rows = await readPredictions(writer.path);
    expect([...rows.keys()]).toEqual(['a', 'b']);
    expect(rows.get('b')?.error).toBe('INPUT_CORRUPT: second try');
    expect(readFileSync(writer.path, 'utf8').trimEnd().split('\n')).toHaveLength(3);
  });
});

describe('formatCsvRow', () => {
  it('quotes commas, quotes and line ends', () => {
    expect(formatCsvRow(['a', 'b,c', 'say "x"', 'l1\nl2'])).toBe(
      'a,"b,c","say ""x""","l1\nl2"',
    );
  });
});

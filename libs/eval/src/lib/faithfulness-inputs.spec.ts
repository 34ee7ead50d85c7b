import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import {
  builtInAttributions,
  deletionMethod,
  readExplanationTable,
  readResultExplanations,
  type ResultExplanations,
  type ResultPatch,
} from './faithfulness-inputs.ts';

const workDir = mkdtempSync(join(tmpdir(), 'dlco-eval-faithfulness-inputs-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

function result(patches: ResultPatch[], shapley: [string, number][]): ResultExplanations {
  return {
    path: 'result.json',
    patches,
    shapleyByZone: new Map(shapley),
    patchSizeVoxels: 16,
    workingSpacingMm: 2,
  };
}

function patch(index: number, zone: string, extra: Partial<ResultPatch> = {}): ResultPatch {
  return { index, zone, centerMm: [0, 0, 0], deficitMlMinMmHg: 0.5, ...extra };
}

describe('builtInAttributions', () => {
  it('negates occlusion and Shapley', () => {
    const methods = builtInAttributions(
      result(
        [patch(0, 'a', { occlusionMlMinMmHg: -0.4 }), patch(1, 'b', { occlusionMlMinMmHg: 0.1 })],
        [
          ['a', -1.5],
          ['b', 0.2],
        ],
      ),
    );
    expect(methods.get('occlusion')!.patches).toEqual([0.4, -0.1]);
    expect(methods.get('shapley')!.zones.get('a')).toBe(1.5);
    expect(methods.get('shapley')!.zones.get('b')).toBe(-0.2);
    expect(methods.get('contributions')!.zones.get('a')).toBe(0.5);
    expect(methods.has('attention')).toBe(false);
  });

  it('gives unzoned patches no Shapley deficit', () => {
    const methods = builtInAttributions(result([patch(0, 'a'), patch(1, 'unzoned')], [['a', -1]]));
    expect(methods.get('shapley')!.zones.get('unzoned')).toBe(0);
  });

  it('drops Shapley when a zone lacks it', () => {
    const methods = builtInAttributions(result([patch(0, 'a'), patch(1, 'b')], [['a', -1]]));
    expect(methods.has('shapley')).toBe(false);
  });

  it('drops contributions without deficits', () => {
    const methods = builtInAttributions(
      result([patch(0, 'a'), patch(1, 'a', { deficitMlMinMmHg: null })], []),
    );
    expect(methods.has('contributions')).toBe(false);
  });
});

describe('readResultExplanations', () => {
  it('reads patches, params and deletion', async () => {
    const path = join(workDir, 'result.json');
    writeFileSync(
      path,
      JSON.stringify({
        preprocessing: { params: { patchSizeVoxels: 16, workingSpacingMm: 2 } },
        patches: [patch(0, 'a')],
        regions: [{ zone: 'a', shapleyMlMinMmHg: -1 }],
        explanations: { deletion: { rankedBy: 'deficit, largest first', normalisedAuc: 0.3 } },
      }),
    );
    const read = await readResultExplanations(path);
    expect(read.patchSizeVoxels).toBe(16);
    expect(read.shapleyByZone.get('a')).toBe(-1);
    expect(read.deletion).toEqual({ rankedBy: 'deficit, largest first', normalisedAuc: 0.3 });
  });

  it('BAD CALL - not a result', async () => {
    const path = join(workDir, 'other.json');
    writeFileSync(path, '{"patches": []}');
    await expect(readResultExplanations(path)).rejects.toMatchObject({
      code: 'EVAL_INPUT_INVALID',
    });
  });

  it('BAD CALL - missing file', async () => {
    await expect(readResultExplanations(join(workDir, 'absent.json'))).rejects.toMatchObject({
      code: 'EVAL_FILE_NOT_FOUND',
    });
  });
});

describe('readExplanationTable', () => {
  it('groups values by id', async () => {
    const path = join(workDir, 'ok.csv');
    writeFileSync(path, 'id,patch_index,value,signed\ns1,0,0.5,-1\ns1,1,2,3\ns2,0,1e-3,0\n');
    const table = await readExplanationTable(path);
    expect(table.get('s1')!.get(1)).toBe(2);
    expect(table.get('s2')!.get(0)).toBe(0.001);
  });

  const invalid: [string, string, RegExp][] = [
    ['negative index', 's1,-1,0.5', /patch_index is '-1'/],
    ['text value', 's1,0,high', /value is 'high'/],
    ['empty value', 's1,0,', /value is ''/],
    ['repeated patch', 's1,0,1\ns1,0,2', /repeats patch_index 0/],
  ];
  for (const [name, rows, message] of invalid) {
    it(`BAD CALL - ${name}`, async () => {
      const path = join(workDir, 'bad.csv');
      writeFileSync(path, `id,patch_index,value\n${rows}\n`);
      await expect(readExplanationTable(path)).rejects.toThrow(message);
    });
  }
});

describe('deletionMethod', () => {
  it('maps rankedBy to a method', () => {
    expect(deletionMethod('occlusion attribution, most negative first')).toBe('occlusion');
    expect(deletionMethod('deficit, largest first')).toBe('contributions');
    expect(deletionMethod('contribution, smallest first')).toBe('contributions');
    expect(deletionMethod('something else')).toBeUndefined();
  });
});

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { BAG_FORMAT_VERSION, DEFAULT_PREPROCESS_PARAMS, preprocessParamsHash } from '../params.ts';
import { readPatchBag, writePatchBag } from './patch-bag.ts';
import type { PatchBag } from './patch-bag-types.ts';

const PYTHON = '/usr/bin/python3';
const numpyMissing = spawnSync(PYTHON, ['-c', 'import numpy']).status !== 0;
if (numpyMissing) {
  console.warn(`skipping numpy.load of a bag: ${PYTHON} with numpy is not available`);
}

const workDir = mkdtempSync(join(tmpdir(), 'patch-bag-spec-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

/** Two patches of 4³ voxels with distinct values in every array. */
function makeBag(): PatchBag {
  const size = 4;
  const count = 2;
  const voxels = count * size ** 3;
  const params = { ...DEFAULT_PREPROCESS_PARAMS, patchSizeVoxels: size, patchStrideVoxels: size };
  return {
    metadata: {
      formatVersion: BAG_FORMAT_VERSION,
      preprocessing: params,
      preprocessingHash: preprocessParamsHash(params),
      source: { fileName: 'scan.nrrd', format: 'nrrd' },
      inputGeometry: {
        size: [10, 10, 10],
        spacingMm: [1, 1, 2],
        originMm: [0, 0, 0],
        direction: [1, 0, 0, 0, 1, 0, 0, 0, 1],
      },
      workingGeometry: {
        size: [5, 5, 10],
        spacingMm: [2, 2, 2],
        originMm: [0.5, 0.5, 0],
        direction: [1, 0, 0, 0, 1, 0, 0, 0, 1],
      },
      zones: { '1': 'upper' },
      coverage: { complete: true, reasons: [] },
      warnings: [],
      qct: { wholeLung: { volumeMl: 1 } },
      patchCount: count,
      droppedLungFraction: 0.125,
      lungVolumeMl: 0.857,
    },
    patches: {
      patchSizeVoxels: size,
      count,
      hu: Int16Array.from({ length: voxels }, (_, index) => index - 1000),
      mask: Uint8Array.from({ length: voxels }, (_, index) => index % 3),
      centersMm: new Float32Array([1.5, 2.5, 3.5, -4, -5, -6]),
      cornerIjk: new Int32Array([0, 0, 0, -1, 4, 4]),
      lungMl: new Float32Array([0.25, 0.5]),
      zone: new Uint8Array([1, 3]),
      side: new Uint8Array([1, 2]),
      rindFraction: new Float32Array([0, 0.75]),
    },
  };
}

describe('writePatchBag and readPatchBag', () => {
  it('round-trips every array and the metadata', async () => {
    const bag = makeBag();
    const dir = join(workDir, 'round-trip');
    await writePatchBag(dir, bag);

    const read = await readPatchBag(dir, {
      expectedPreprocessingHash: bag.metadata.preprocessingHash,
    });

    expect(read.metadata).toEqual(bag.metadata);
    expect(read.patches).toEqual(bag.patches);
  });

  it('writes exactly the files of the format', async () => {
    const dir = join(workDir, 'files');
    await writePatchBag(dir, makeBag());

    expect(readdirSync(dir).sort()).toEqual([
      'bag.json',
      'centers_mm.npy',
      'corner_ijk.npy',
      'hu.npy',
      'lung_ml.npy',
      'mask.npy',
      'rind_fraction.npy',
      'side.npy',
      'zone.npy',
    ]);
  });

  it('replaces an earlier bag and leaves no staging folders', async () => {
    const parent = join(workDir, 'replace');
    const dir = join(parent, 'scan');
    await writePatchBag(dir, makeBag());
    const second = makeBag();
    second.patches.lungMl[0] = 9;
    await writePatchBag(dir, second);

    const read = await readPatchBag(dir);

    expect(read.patches.lungMl[0]).toBe(9);
    expect(readdirSync(parent)).toEqual(['scan']);
  });

  it('EXPECTED FAILURE - a failed write keeps the earlier bag', async () => {
    const parent = join(workDir, 'failed-write');
    const dir = join(parent, 'scan');
    await writePatchBag(dir, makeBag());
    const broken = makeBag();
    // A BigInt makes JSON.stringify throw after every array file is already staged.
    (broken.metadata as unknown as Record<string, unknown>).qct = { volume: 1n };

    await expect(writePatchBag(dir, broken)).rejects.toThrow(TypeError);

    expect(readdirSync(parent)).toEqual(['scan']);
    expect((await readPatchBag(dir)).patches.lungMl[0]).toBe(0.25);
  });

  it('removes staging folders of ended writers', async () => {
    const parent = join(workDir, 'abandoned');
    const endedPid = spawnSync(process.execPath, ['-e', '0']).pid;
    mkdirSync(join(parent, `.scan.tmp-${endedPid}-0a1b`), { recursive: true });
    mkdirSync(join(parent, `.scan.tmp-${process.pid}-2c3d`), { recursive: true });
    mkdirSync(join(parent, `.other.tmp-${endedPid}-4e5f`), { recursive: true });

    await writePatchBag(join(parent, 'scan'), makeBag());

    expect(readdirSync(parent).sort()).toEqual([
      `.other.tmp-${endedPid}-4e5f`,
      `.scan.tmp-${process.pid}-2c3d`,
      'scan',
    ]);
  });

  it('clears a retired bag of an ended writer', async () => {
    const parent = join(workDir, 'retired');
    const endedPid = spawnSync(process.execPath, ['-e', '0']).pid;
    await writePatchBag(join(parent, 'earlier'), makeBag());
    execFileSync('mv', [join(parent, 'earlier'), join(parent, `.scan.old-${endedPid}-0a1b`)]);

    await writePatchBag(join(parent, 'scan'), makeBag());

    expect(readdirSync(parent)).toEqual(['scan']);
  });

  it('BAD CALL - rejects arrays that do not match the patch count', async () => {
    const bag = makeBag();
    bag.patches.zone = new Uint8Array(3);
    const dir = join(workDir, 'bad-arrays');

    await expect(writePatchBag(dir, bag)).rejects.toThrow(/patches.zone has 3 elements/);
  });

  it('EXPECTED FAILURE - rejects a different preprocessing hash', async () => {
    const dir = join(workDir, 'hash');
    await writePatchBag(dir, makeBag());

    await expect(readPatchBag(dir, { expectedPreprocessingHash: 'abc' })).rejects.toThrow(
      /preprocessing hash/,
    );
  });

  it('EXPECTED FAILURE - rejects an unknown format version', async () => {
    const dir = join(workDir, 'version');
    await writePatchBag(dir, makeBag());
    const metadataPath = join(dir, 'bag.json');
    const metadata = JSON.parse(readFileSync(metadataPath, 'utf8'));
    writeFileSync(metadataPath, JSON.stringify({ ...metadata, formatVersion: 99 }));

    await expect(readPatchBag(dir)).rejects.toThrow(/format version 99/);
  });
});

describe.skipIf(numpyMissing)('numpy reading a patch bag', () => {
  it('loads every array with the documented dtype and shape', async () => {
    const dir = join(workDir, 'numpy');
    const bag = makeBag();
    await writePatchBag(dir, bag);

    const script = [
      'import sys, os, json, numpy as np',
      'd = sys.argv[1]',
      'meta = json.load(open(os.path.join(d, "bag.json")))',
      'for name in sorted(os.listdir(d)):',
      '    if name.endswith(".npy"):',
      '        a = np.load(os.path.join(d, name))',
      '        print(name, a.dtype.str, a.shape)',
      'hu = np.load(os.path.join(d, "hu.npy"))',
      'print("hu[1,2,3,1]", int(hu[1, 2, 3, 1]), meta["patchCount"])',
    ].join('\n');
    const lines = execFileSync(PYTHON, ['-c', script, dir], { encoding: 'utf8' })
      .trim()
      .split('\n');

    // hu[n, k, j, i] sits at n * 64 + k * 16 + j * 4 + i in the flat array.
    const expectedHu = bag.patches.hu[64 + 2 * 16 + 3 * 4 + 1];
    expect(lines).toEqual([
      'centers_mm.npy <f4 (2, 3)',
      'corner_ijk.npy <i4 (2, 3)',
      'hu.npy <i2 (2, 4, 4, 4)',
      'lung_ml.npy <f4 (2,)',
      'mask.npy |u1 (2, 4, 4, 4)',
      'rind_fraction.npy <f4 (2,)',
      'side.npy |u1 (2,)',
      'zone.npy |u1 (2,)',
      `hu[1,2,3,1] ${expectedHu} 2`,
    ]);
  });
});

import path from 'node:path';

import { readImageNode } from '@itk-wasm/image-io';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { LabelVolume } from '../volume.ts';
import { listEntries, makeTempDir, removeTempDir } from './test-helpers/fixtures.ts';
import { writeFloatVolume, writeLabelVolume } from './write-volume.ts';

const GEOMETRY = {
  size: [5, 4, 3] as [number, number, number],
  spacingMm: [0.5, 0.75, 2] as [number, number, number],
  originMm: [-10, 20.5, -30] as [number, number, number],
  // Voxel axis i runs along LPS y, j along -x and k along z.
  direction: Float64Array.from([0, -1, 0, 1, 0, 0, 0, 0, 1]),
};

let folder: string;

beforeEach(async () => {
  folder = await makeTempDir();
});

afterEach(async () => {
  await removeTempDir(folder);
});

describe('writeLabelVolume', () => {
  it.each([['labels.nii.gz'], ['labels.nrrd'], ['labels.nii']])('round-trips %s', async (name) => {
    const labels: LabelVolume = {
      ...GEOMETRY,
      data: Uint8Array.from({ length: 60 }, (_, i) => i % 3),
    };
    const file = path.join(folder, name);
    await writeLabelVolume(file, labels);

    const image = await readImageNode(file);
    expect(image.imageType.componentType).toBe('uint8');
    expect(image.size).toEqual(GEOMETRY.size);
    for (let axis = 0; axis < 3; axis++) {
      expect(image.spacing[axis]).toBeCloseTo(GEOMETRY.spacingMm[axis], 5);
      expect(image.origin[axis]).toBeCloseTo(GEOMETRY.originMm[axis], 4);
    }
    for (let index = 0; index < 9; index++) {
      expect(image.direction[index]).toBeCloseTo(GEOMETRY.direction[index], 6);
    }
    expect(Array.from(image.data as Uint8Array)).toEqual(Array.from(labels.data));
    expect(await listEntries(folder)).toEqual([name]);
  });

  it('BAD CALL - unsupported extension writes nothing', async () => {
    const labels: LabelVolume = { ...GEOMETRY, data: new Uint8Array(60) };
    await expect(writeLabelVolume(path.join(folder, 'labels.png'), labels)).rejects.toThrow(
      RangeError,
    );
    expect(await listEntries(folder)).toEqual([]);
  });

  it('BAD CALL - data length mismatch writes nothing', async () => {
    const labels: LabelVolume = { ...GEOMETRY, data: new Uint8Array(59) };
    await expect(writeLabelVolume(path.join(folder, 'labels.nrrd'), labels)).rejects.toThrow(
      RangeError,
    );
    expect(await listEntries(folder)).toEqual([]);
  });
});

describe('writeFloatVolume', () => {
  it('round-trips float32 values', async () => {
    const data = Float32Array.from({ length: 60 }, (_, i) => i * 0.25 - 3);
    const file = path.join(folder, 'map.nrrd');
    await writeFloatVolume(file, GEOMETRY, data);
    const image = await readImageNode(file);
    expect(image.imageType.componentType).toBe('float32');
    expect(Array.from(image.data as Float32Array)).toEqual(Array.from(data));
    expect(await listEntries(folder)).toEqual(['map.nrrd']);
  });

  it('BAD CALL - missing folder leaves nothing', async () => {
    const file = path.join(folder, 'absent', 'map.nii.gz');
    await expect(writeFloatVolume(file, GEOMETRY, new Float32Array(60))).rejects.toThrow();
    expect(await listEntries(folder)).toEqual([]);
  });
});

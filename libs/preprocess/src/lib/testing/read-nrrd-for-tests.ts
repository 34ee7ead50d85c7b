/**
 * Test-only reader for reference label maps, which `readScan` rejects because they are not CT in
 * HU. CT scans in tests go through `readScan`.
 *
 * itk-wasm stores `direction` row-major (`direction[3 * r + c]` is ITK's `Direction(r, c)`),
 * which is the `Volume` layout, so it is copied as is. Reading an NRRD whose axis 0 points along
 * (cos 20°, sin 20°, 0) returns `direction[3] = sin 20°`, which confirms the layout.
 * @internal
 */
import { readImageNode } from '@itk-wasm/image-io';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { GridGeometry } from '../geometry/grid-geometry.ts';

/** Folder of the real test scans: `<repository>/../shared/data/real`. */
export const REAL_DATA_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../../../../shared/data/real',
);

async function readGeometry(
  file: string,
): Promise<{ geometry: GridGeometry; data: ArrayLike<number> }> {
  const image = await readImageNode(file);
  if (image.size.length !== 3) throw new Error(`${file} is not a 3-D image (size ${image.size}).`);
  const geometry: GridGeometry = {
    size: [image.size[0], image.size[1], image.size[2]],
    spacingMm: [image.spacing[0], image.spacing[1], image.spacing[2]],
    originMm: [image.origin[0], image.origin[1], image.origin[2]],
    direction: Float64Array.from(image.direction as Float64Array),
  };
  return { geometry, data: image.data as ArrayLike<number> };
}

/** Reads an integer label map (such as a Chest Imaging Platform label map) without conversion. */
export async function readLabelMapForTests(
  file: string,
): Promise<GridGeometry & { data: Uint16Array }> {
  const { geometry, data } = await readGeometry(file);
  return { ...geometry, data: Uint16Array.from(data) };
}

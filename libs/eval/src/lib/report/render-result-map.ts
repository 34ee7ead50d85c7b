import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { renderOverlayPng } from '@dlco/explain';
import { canonicalGeometry, reorderVoxels, type GridGeometry } from '@dlco/preprocess';
import { niftiReadImageNode } from '@itk-wasm/image-io';

/** Unit of `map.nii.gz` in the result.json of `dlco batch` and `dlco predict`. */
export const RESULT_MAP_UNIT = 'ml/min/mmHg per mL of lung';

/** HU given to lung voxels in the stand-in background, about that of aerated lung. */
const LUNG_HU = -850;
/** HU given to every other voxel, about that of soft tissue. */
const OUTSIDE_HU = 40;

/** The parts of result.json that the rendering reads. */
interface ResultJson {
  model?: { id?: string; version?: string };
  dlco?: { estimate?: number };
  maps?: Record<string, { file?: string; quantity?: string; unit?: string }>;
}

interface NiftiVolume {
  geometry: GridGeometry;
  data: Float32Array | Uint8Array;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function readNiftiVolume(path: string, type: 'float' | 'label'): Promise<NiftiVolume> {
  const { couldRead, image } = await niftiReadImageNode(path);
  // ITK-wasm returns no image, rather than throwing, for a file that is not NIfTI.
  if (!couldRead || image === undefined) throw new Error(`${path} is not a readable NIfTI file`);
  const size = image.size.slice(0, 3) as [number, number, number];
  const dimension = image.imageType.dimension;
  const direction = new Float64Array(9);
  for (let row = 0; row < 3; row++) {
    for (let column = 0; column < 3; column++) {
      direction[3 * row + column] = Number(image.direction[dimension * row + column]);
    }
  }
  const values = image.data as ArrayLike<number>;
  const data = type === 'float' ? Float32Array.from(values) : Uint8Array.from(values);
  return {
    geometry: {
      size,
      spacingMm: [image.spacing[0], image.spacing[1], image.spacing[2]],
      originMm: [image.origin[0], image.origin[1], image.origin[2]],
      direction,
    },
    data,
  };
}

/** Permutes and flips the voxel axes so that the grid runs along LPS, as the renderer needs. */
function toLps<T extends Float32Array | Uint8Array>(volume: { geometry: GridGeometry; data: T }) {
  const { geometry, transform } = canonicalGeometry(volume.geometry);
  const data = new (volume.data.constructor as { new (length: number): T })(volume.data.length);
  reorderVoxels(
    volume.data,
    [...volume.geometry.size] as [number, number, number],
    transform.axisPermutation,
    transform.flipped,
    data,
  );
  return { geometry, data };
}

/**
 * Renders the regional map of a `dlco batch` result folder (`map.nii.gz`, `lung-mask.nii.gz`,
 * `result.json`) with the overlay renderer of `@dlco/explain`, the one behind overlay.png. A
 * result folder keeps no CT, so the grey background is drawn from the lung mask: lung voxels at
 * -850 HU and the rest at 40 HU. Returns null when a file is missing or the map's unit is not
 * {@link RESULT_MAP_UNIT}.
 *
 * NOTE: an oblique scan keeps its residual rotation after the axis reordering, and the panels
 * are drawn as if the grid were axis-aligned.
 */
export async function renderResultMap(resultDir: string): Promise<Buffer | null> {
  const resultPath = join(resultDir, 'result.json');
  if (!(await exists(resultPath))) return null;
  const result = JSON.parse(await readFile(resultPath, 'utf8')) as ResultJson;
  const mapEntry = result.maps?.map;
  const maskEntry = result.maps?.lungMask;
  if (mapEntry?.file === undefined || maskEntry?.file === undefined) return null;
  if (mapEntry.unit !== RESULT_MAP_UNIT) return null;
  const mapPath = join(resultDir, mapEntry.file);
  const maskPath = join(resultDir, maskEntry.file);
  if (!(await exists(mapPath)) || !(await exists(maskPath))) return null;

  const map = toLps(await readNiftiVolume(mapPath, 'float'));
  const mask = toLps(await readNiftiVolume(maskPath, 'label'));
  const { size, spacingMm, originMm } = map.geometry;
  // The renderer takes ml/min/mmHg per voxel, so the density per mL is scaled by the voxel volume.
  const voxelMl = (spacingMm[0] * spacingMm[1] * spacingMm[2]) / 1000;
  const perVoxel = map.data.map((value) => value * voxelMl);
  const background = Int16Array.from(mask.data, (label) => (label > 0 ? LUNG_HU : OUTSIDE_HU));
  const isDeficit = mapEntry.quantity?.startsWith('deficit') === true;
  const model = `${result.model?.id ?? ''} ${result.model?.version ?? ''}`.trim();
  const estimate = result.dlco?.estimate;

  return renderOverlayPng({
    ct: { data: background, size, spacingMm, originMm },
    map: perVoxel as Float32Array,
    lungMask: mask.data as Uint8Array,
    options: {
      mapLabel: isDeficit ? 'DLCO deficit' : 'DLCO contribution',
      title: estimate === undefined ? undefined : `DLCO ${estimate.toFixed(1)} ml/min/mmHg`,
      footer:
        `${model}. Background drawn from the lung mask, because result folders keep no CT. ` +
        'Research use, not diagnosis.',
    },
  });
}

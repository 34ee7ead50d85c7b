import { createHash } from 'node:crypto';

/**
 * Every parameter that changes what a patch bag contains. A model records the hash of the
 * parameters it was trained with and refuses bags made with others.
 */
export interface PreprocessParams {
  /** Isotropic spacing of the working grid, in mm. */
  workingSpacingMm: number;
  /** Edge length of a cubic patch, in working-grid voxels. */
  patchSizeVoxels: number;
  /** Step between patch corners on the working grid, in voxels. */
  patchStrideVoxels: number;
  /** Patches whose lung fraction is below this share of their voxels are dropped. */
  minLungFraction: number;
  /** Depth of the peripheral rind measured inwards from the lung surface, in mm. */
  rindDepthMm: number;
}

export const DEFAULT_PREPROCESS_PARAMS: Readonly<PreprocessParams> = Object.freeze({
  workingSpacingMm: 2,
  patchSizeVoxels: 16,
  patchStrideVoxels: 16,
  minLungFraction: 0.1,
  rindDepthMm: 10,
});

/** Version of the patch-bag layout on disk; bump it whenever a reader would need to change. */
export const BAG_FORMAT_VERSION = 1;

/** Hashes the parameters as canonical JSON (sorted keys), with the bag format version. */
export function preprocessParamsHash(params: PreprocessParams): string {
  const sorted = Object.fromEntries(
    Object.entries(params).sort(([a], [b]) => a.localeCompare(b)),
  );
  const canonical = JSON.stringify({ bagFormatVersion: BAG_FORMAT_VERSION, ...sorted });
  return createHash('sha256').update(canonical).digest('hex');
}

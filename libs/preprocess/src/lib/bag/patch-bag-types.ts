import type { PreprocessParams } from '../params.ts';

/** Grid geometry as stored in `bag.json`: plain arrays, direction row-major. */
export interface GridGeometryJson {
  size: [number, number, number];
  spacingMm: [number, number, number];
  /** Patient (LPS) position of voxel (0, 0, 0), in mm. */
  originMm: [number, number, number];
  /** Nine direction cosines, row-major, as in `Volume.direction`. */
  direction: number[];
}

/**
 * The patches of one scan, as parallel flat arrays. Patch `n` owns elements
 * `[n * S³, (n + 1) * S³)` of `hu` and `mask`, laid out (k, j, i) with i varying fastest, and
 * elements `[3n, 3n + 3)` of `centersMm` and `cornerIjk`.
 */
export interface PatchArrays {
  /** Edge length S of each cubic patch, in working-grid voxels. */
  patchSizeVoxels: number;
  /** Number of patches N. */
  count: number;
  /** HU on the working grid, N × S³. */
  hu: Int16Array;
  /** Lung labels (0 outside, 1 right, 2 left), N × S³. */
  mask: Uint8Array;
  /** Patch centres in patient coordinates (LPS, mm), N × 3. */
  centersMm: Float32Array;
  /** Working-grid index (i, j, k) of each patch's first voxel, N × 3. May be negative. */
  cornerIjk: Int32Array;
  /** Lung volume inside each patch, in mL. */
  lungMl: Float32Array;
  /** Zone code of most of the patch's lung voxels. */
  zone: Uint8Array;
  /** 1 right or 2 left, whichever contains more of the patch's lung voxels. */
  side: Uint8Array;
  /** Share (0 to 1) of the patch's lung voxels that lie in the peripheral rind. */
  rindFraction: Float32Array;
}

/** The contents of `bag.json`. Field meanings are fixed by docs/patch-bag-format.md. */
export interface PatchBagMetadata {
  formatVersion: number;
  preprocessing: PreprocessParams;
  preprocessingHash: string;
  /** Input file name (no folders) and format. Never patient identifiers. */
  source: { fileName: string; format: string };
  inputGeometry: GridGeometryJson;
  workingGeometry: GridGeometryJson;
  /** Zone code (as a decimal string key) to zone name, for `zone.npy`. */
  zones: Record<string, string>;
  coverage: Record<string, unknown>;
  warnings: unknown[];
  qct: unknown;
  patchCount: number;
  /** Share (0 to 1) of the lung volume that lies in no kept patch. */
  droppedLungFraction: number;
  /** Lung volume on the working grid, in mL. */
  lungVolumeMl: number;
}

/** A patch bag in memory: what `writePatchBag` stores and `readPatchBag` returns. */
export interface PatchBag {
  metadata: PatchBagMetadata;
  patches: PatchArrays;
}

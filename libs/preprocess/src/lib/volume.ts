/**
 * A CT volume in Hounsfield units with its physical geometry.
 *
 * Patient coordinates are LPS (x towards the patient's left, y posterior, z superior), as ITK
 * and DICOM use them. Voxel (i, j, k) sits at `origin + direction * (spacing ∘ [i, j, k])`.
 * Data is stored with i varying fastest: `index = i + size[0] * (j + size[1] * k)`.
 */
export interface Volume {
  /** Voxel counts along i, j, k. */
  size: [number, number, number];
  /** Distance between voxel centres along i, j, k, in mm. */
  spacingMm: [number, number, number];
  /** Patient (LPS) position of voxel (0, 0, 0), in mm. */
  originMm: [number, number, number];
  /**
   * Direction cosines, row-major: `direction[3 * r + c]` is the LPS component `r` of the unit
   * vector along voxel axis `c` (ITK's `Direction(r, c)`).
   */
  direction: Float64Array;
  /** Intensities in HU. Voxels outside the scanner's field of view hold `PADDING_HU`. */
  data: Int16Array;
}

/**
 * Value written for voxels outside the reconstructed field of view (stored padding such as
 * -2000, -3024 or -32768). Downstream code treats it as outside the body, never as tissue.
 */
export const PADDING_HU = -32768;

/** Stored values below this many HU (after rescaling) are padding, not tissue or air. */
export const PADDING_THRESHOLD_HU = -1500;

/** A label volume on the same grid as a `Volume`. */
export interface LabelVolume {
  size: [number, number, number];
  spacingMm: [number, number, number];
  originMm: [number, number, number];
  direction: Float64Array;
  data: Uint8Array;
}

/** Lung labels written by segmentation. */
export const LUNG_LABELS = { background: 0, right: 1, left: 2 } as const;

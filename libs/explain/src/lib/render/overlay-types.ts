/** Perceptual colour maps offered for the overlay, all from matplotlib by way of d3-scale-chromatic. */
export const OVERLAY_COLORMAPS = ['inferno', 'viridis', 'magma', 'plasma', 'cividis'] as const;

export type OverlayColormap = (typeof OVERLAY_COLORMAPS)[number];

/**
 * Unit of the values on the colour bar. The map is given per voxel and divided by the voxel
 * volume: `'per-litre'` gives ml/min/mmHg per L, the unit of KCO (DLCO / alveolar volume), so a
 * region's colour compares with the whole-lung KCO. `'per-millilitre'` gives ml/min/mmHg per mL
 * (per cm³), and `'per-voxel'` shows the map values as given.
 */
export const OVERLAY_MAP_UNITS = ['per-litre', 'per-millilitre', 'per-voxel'] as const;

export type OverlayMapUnit = (typeof OVERLAY_MAP_UNITS)[number];

/**
 * A CT volume on an axis-aligned LPS grid, such as `WorkingGrid.volume` from `@dlco/preprocess`:
 * voxel axis i runs towards the patient's left, j posterior and k superior, with i varying fastest
 * in `data`.
 */
export interface OverlayVolume {
  /** Intensities in HU. */
  data: Int16Array;
  /** Voxel counts along i, j, k. */
  size: readonly [number, number, number];
  /** Distance between voxel centres along i, j, k, in mm. */
  spacingMm: readonly [number, number, number];
  /** LPS position of voxel (0, 0, 0) in mm. Panel labels give slice indices when it is absent. */
  originMm?: readonly [number, number, number];
  /** Direction cosines, row-major. When given it must be the identity (an axis-aligned grid). */
  direction?: ArrayLike<number>;
}

/** Window applied to the CT before it is shown in grey, in HU. */
export interface HuWindow {
  center: number;
  width: number;
}

/** Options of `renderOverlayPng`. */
export interface RenderOverlayOptions {
  /** Name of the mapped quantity, such as `'DLCO deficit'`. The bar adds the unit below it. */
  mapLabel: string;
  /** Unit of the colour bar (default `'per-litre'`); see `OverlayMapUnit`. */
  mapUnit?: OverlayMapUnit;
  /** Axial panels, evenly spaced over the lungs and shown apex first (default 6). */
  axialSlices?: number;
  /** Coronal panels, evenly spaced from the front of the lungs to the back (default 3). */
  coronalSlices?: number;
  /**
   * Whether to move the panel nearest to the slice with the largest positive map sum in each view
   * onto that slice (default true), so that a focal region between evenly spaced slices is shown.
   */
  showPeakSlices?: boolean;
  /** CT window in HU (default the lung window, centre -600 and width 1500). */
  window?: HuWindow;
  /** Colour map of the overlay (default `'inferno'`). */
  colormap?: OverlayColormap;
  /**
   * Top of the colour range in the unit of `mapUnit`. Defaults to the 99th percentile of the
   * positive map values inside the lungs. Set it to compare several scans on one scale.
   */
  valueMax?: number;
  /** Overlay opacity at the top of the colour range, from 0 to 1 (default 0.75). */
  alphaMax?: number;
  /** Line printed above the panels. */
  title?: string;
  /** Line printed below the panels, such as the model id and 'Research use, not diagnosis'. */
  footer?: string;
  /** Width of each panel in pixels (default 320); heights follow from the spacing. */
  panelWidthPx?: number;
  /** Panels per row (default 3). */
  columns?: number;
  /** Margin kept around the lung mask's bounding box in mm (default 20). Unused without a mask. */
  cropMarginMm?: number;
}

/** Arguments of `renderOverlayPng`. */
export interface RenderOverlayInput {
  ct: OverlayVolume;
  /** Map on the CT grid in ml/min/mmHg per voxel, such as a contribution or a deficit. */
  map: Float32Array;
  /**
   * Non-zero inside the lungs, on the CT grid. The overlay is drawn only there, the slices are
   * spread over its extent and the panels are cropped to it. Without a mask the map's non-zero
   * voxels take its place and the panels show the whole grid.
   */
  lungMask?: Uint8Array;
  options: RenderOverlayOptions;
}

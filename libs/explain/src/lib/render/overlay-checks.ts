import { describeValue, requireInteger, requireVoxelTriple } from '../argument-checks.ts';
import { ExplainRangeError, ExplainTypeError } from '../errors.ts';
import {
  OVERLAY_COLORMAPS,
  OVERLAY_MAP_UNITS,
  type HuWindow,
  type OverlayColormap,
  type OverlayMapUnit,
  type RenderOverlayInput,
} from './overlay-types.ts';

/** Lung window used when `options.window` is absent, in HU. */
export const LUNG_WINDOW: HuWindow = { center: -600, width: 1500 };

/** Largest number of axial or coronal panels accepted. */
export const MAX_PANELS_PER_VIEW = 24;

/** Range of `options.panelWidthPx`, in pixels. */
export const MIN_PANEL_WIDTH_PX = 64;
export const MAX_PANEL_WIDTH_PX = 2048;

/** `RenderOverlayInput` after validation, with every default filled in. */
export interface CheckedOverlayInput {
  ct: {
    data: Int16Array;
    size: [number, number, number];
    spacingMm: [number, number, number];
    originMm?: [number, number, number];
  };
  map: Float32Array;
  lungMask?: Uint8Array;
  mapLabel: string;
  mapUnit: OverlayMapUnit;
  axialSlices: number;
  coronalSlices: number;
  window: HuWindow;
  colormap: OverlayColormap;
  valueMax?: number;
  alphaMax: number;
  title?: string;
  footer?: string;
  panelWidthPx: number;
  columns: number;
  cropMarginMm: number;
  showPeakSlices: boolean;
}

function rangeError(argument: string, value: unknown, message: string): ExplainRangeError {
  return new ExplainRangeError('EXPLAIN_OUT_OF_RANGE', argument, value, message);
}

function requireTypedArray<T>(argument: string, value: unknown, type: new () => T): T {
  if (!(value instanceof type)) {
    const expected = (type as unknown as { name: string }).name;
    throw new ExplainTypeError(
      'EXPLAIN_INVALID_ARGUMENT',
      argument,
      value,
      `${argument} must be a ${expected}, received ${describeValue(value)}.`,
    );
  }
  return value;
}

function requireVoxelCount(argument: string, array: ArrayLike<unknown>, voxels: number): void {
  if (array.length !== voxels) {
    throw new ExplainRangeError(
      'EXPLAIN_INVALID_ARGUMENT',
      argument,
      array,
      `${argument} must have one value per CT voxel (${voxels}), received ${array.length}. ` +
        'Resample it to the CT grid first.',
    );
  }
}

function requireNumberTriple(
  argument: string,
  value: unknown,
  positive: boolean,
): [number, number, number] {
  const valid =
    Array.isArray(value) &&
    value.length === 3 &&
    value.every((entry) => Number.isFinite(entry) && (!positive || entry > 0));
  if (!valid) {
    const kind = positive ? 'positive numbers' : 'finite numbers';
    throw rangeError(
      argument,
      value,
      `${argument} must be three ${kind} in mm, received ${describeValue(value)}.`,
    );
  }
  return [...(value as number[])] as [number, number, number];
}

function requireIdentityDirection(direction: ArrayLike<number>): void {
  const identity = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  const aligned =
    direction.length === 9 && identity.every((entry, n) => Math.abs(direction[n] - entry) < 1e-4);
  if (!aligned) {
    throw rangeError(
      'ct.direction',
      direction,
      `ct.direction must be the identity (an axis-aligned LPS grid), received ` +
        `[${Array.from(direction).join(', ')}]. Resample the scan with resampleToWorkingGrid ` +
        'from @dlco/preprocess first.',
    );
  }
}

function requireFiniteMap(map: Float32Array): void {
  for (let n = 0; n < map.length; n++) {
    if (!Number.isFinite(map[n])) {
      throw rangeError('map', map, `map must be finite, received ${map[n]} at voxel ${n}.`);
    }
  }
}

function requireNonEmptyMask(mask: Uint8Array): void {
  if (!mask.some((value) => value !== 0)) {
    throw new ExplainRangeError(
      'EXPLAIN_INVALID_ARGUMENT',
      'lungMask',
      mask,
      'lungMask contains no lung voxel. Check the segmentation, or omit lungMask.',
    );
  }
}

function requireChoice<T extends string>(
  argument: string,
  value: unknown,
  choices: readonly T[],
): T {
  if (!choices.includes(value as T)) {
    throw rangeError(
      argument,
      value,
      `${argument} must be one of ${choices.join(', ')}, received ${describeValue(value)}.`,
    );
  }
  return value as T;
}

function requireInterval(
  argument: string,
  value: unknown,
  lowExclusive: number,
  high: number,
): number {
  if (typeof value !== 'number' || !(value > lowExclusive && value <= high)) {
    throw rangeError(
      argument,
      value,
      `${argument} must be a number above ${lowExclusive} and at most ${high}, received ` +
        `${describeValue(value)}.`,
    );
  }
  return value;
}

function optionalText(argument: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    throw new ExplainTypeError(
      'EXPLAIN_INVALID_ARGUMENT',
      argument,
      value,
      `${argument} must be a string, received ${describeValue(value)}.`,
    );
  }
  return value;
}

function checkWindow(value: HuWindow | undefined): HuWindow {
  if (value === undefined) return LUNG_WINDOW;
  const valid =
    typeof value === 'object' &&
    value !== null &&
    Number.isFinite(value.center) &&
    Number.isFinite(value.width) &&
    value.width > 0;
  if (!valid) {
    throw rangeError(
      'options.window',
      value,
      `options.window must be {center, width} in HU with a positive width, received ` +
        `${JSON.stringify(value)}.`,
    );
  }
  return { center: value.center, width: value.width };
}

function checkPanelWidth(value: unknown): number {
  const fix = `Use ${MIN_PANEL_WIDTH_PX} to ${MAX_PANEL_WIDTH_PX}.`;
  const width = requireInteger('options.panelWidthPx', value, MIN_PANEL_WIDTH_PX, fix);
  if (width > MAX_PANEL_WIDTH_PX) {
    throw rangeError('options.panelWidthPx', width, `options.panelWidthPx is ${width}. ${fix}`);
  }
  return width;
}

function checkCropMargin(value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw rangeError(
      'options.cropMarginMm',
      value,
      `options.cropMarginMm must be a finite number of mm of at least 0, received ` +
        `${describeValue(value)}.`,
    );
  }
  return value;
}

function checkBoolean(argument: string, value: unknown): boolean {
  if (typeof value !== 'boolean') {
    throw new ExplainTypeError(
      'EXPLAIN_INVALID_ARGUMENT',
      argument,
      value,
      `${argument} must be true or false, received ${describeValue(value)}.`,
    );
  }
  return value;
}

function checkCt(input: RenderOverlayInput): CheckedOverlayInput['ct'] {
  const ct = input.ct;
  const size = requireVoxelTriple('ct.size', ct.size, 1, 'Pass the voxel counts along i, j, k.');
  const spacingMm = requireNumberTriple('ct.spacingMm', ct.spacingMm, true);
  const data = requireTypedArray('ct.data', ct.data, Int16Array);
  requireVoxelCount('ct.data', data, size[0] * size[1] * size[2]);
  const originMm =
    ct.originMm === undefined ? undefined : requireNumberTriple('ct.originMm', ct.originMm, false);
  if (ct.direction !== undefined) requireIdentityDirection(ct.direction);
  return { data, size, spacingMm, originMm };
}

/**
 * Validates the arguments of `renderOverlayPng` and fills in the defaults.
 *
 * @throws ExplainRangeError naming the argument when a length differs from the CT voxel count,
 *   the lung mask is empty, the map is not finite or an option is out of range.
 * @throws ExplainTypeError when an argument has the wrong type.
 */
export function checkOverlayInput(input: RenderOverlayInput): CheckedOverlayInput {
  const ct = checkCt(input);
  const voxels = ct.data.length;
  const map = requireTypedArray('map', input.map, Float32Array);
  requireVoxelCount('map', map, voxels);
  requireFiniteMap(map);

  let lungMask: Uint8Array | undefined;
  if (input.lungMask !== undefined) {
    lungMask = requireTypedArray('lungMask', input.lungMask, Uint8Array);
    requireVoxelCount('lungMask', lungMask, voxels);
    requireNonEmptyMask(lungMask);
  }

  const options = input.options ?? ({} as RenderOverlayInput['options']);
  const mapLabel = optionalText('options.mapLabel', options.mapLabel);
  if (!mapLabel) {
    throw rangeError(
      'options.mapLabel',
      mapLabel,
      "options.mapLabel must name the mapped quantity, such as 'DLCO deficit'.",
    );
  }
  const fix = `Use 0 to ${MAX_PANELS_PER_VIEW}.`;
  const axialSlices = requireInteger('options.axialSlices', options.axialSlices ?? 6, 0, fix);
  const coronalSlices = requireInteger('options.coronalSlices', options.coronalSlices ?? 3, 0, fix);
  for (const [argument, count] of [
    ['options.axialSlices', axialSlices],
    ['options.coronalSlices', coronalSlices],
  ] as const) {
    if (count > MAX_PANELS_PER_VIEW) throw rangeError(argument, count, `${argument}: ${fix}`);
  }
  if (axialSlices + coronalSlices === 0) {
    throw rangeError(
      'options.axialSlices',
      0,
      'options.axialSlices and options.coronalSlices are both 0, so there is nothing to draw.',
    );
  }

  return {
    ct,
    map,
    lungMask,
    mapLabel,
    mapUnit: requireChoice('options.mapUnit', options.mapUnit ?? 'per-litre', OVERLAY_MAP_UNITS),
    axialSlices,
    coronalSlices,
    window: checkWindow(options.window),
    colormap: requireChoice('options.colormap', options.colormap ?? 'inferno', OVERLAY_COLORMAPS),
    valueMax:
      options.valueMax === undefined
        ? undefined
        : requireInterval('options.valueMax', options.valueMax, 0, Number.MAX_VALUE),
    alphaMax: requireInterval('options.alphaMax', options.alphaMax ?? 0.75, 0, 1),
    title: optionalText('options.title', options.title),
    footer: optionalText('options.footer', options.footer),
    panelWidthPx: checkPanelWidth(options.panelWidthPx ?? 320),
    columns: requireInteger('options.columns', options.columns ?? 3, 1, 'Use 1 or more.'),
    cropMarginMm: checkCropMargin(options.cropMarginMm ?? 20),
    showPeakSlices: checkBoolean('options.showPeakSlices', options.showPeakSlices ?? true),
  };
}

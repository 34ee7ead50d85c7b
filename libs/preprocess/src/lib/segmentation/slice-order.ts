import type { Volume } from '../volume.ts';
import { traceAirway, type AirwayTrace } from './airway.ts';

// NOTE: both limits are estimates from three scans. Correctly oriented, the traced trachea and
// main bronchi spanned 146 to 194 mm along z (cip-ct64, the POPI 4-D CT phase, the demo scan).
// With the slice order reversed, the trace from the top spanned 30 mm (cip-ct64) and 50 mm
// (demo scan), and the trace from the bottom 144 and 148 mm.
/** An airway trace shorter than this along z, in mm, is checked from the other end. */
const SHORT_AIRWAY_MM = 60;
/** A trace from the inferior end at least this long, in mm, is taken for the trachea. */
const LONG_AIRWAY_MM = 100;

/**
 * Returns a warning when the slice order looks reversed. That is the case when the airway traced
 * from the top of the working grid is short or missing while one traced from the bottom is
 * long, as a trachea at the inferior end would be. The caller keeps the scan, because the
 * header may be right and the anatomy unusual.
 *
 * A second airway trace runs only when the first one is short, so a normal scan pays nothing.
 *
 * @param volume - working grid, identity direction, z increasing superiorly
 * @param air - air inside the body, as `traceAirway` takes it
 * @param trace - the trace from the top, or undefined when none was found
 */
export function reversedSliceOrderWarning(
  volume: Volume,
  air: Uint8Array,
  trace: AirwayTrace | undefined,
): string | undefined {
  const span = trace === undefined ? 0 : zSpanMm(trace.mask, volume);
  if (span >= SHORT_AIRWAY_MM) return undefined;

  const flipped = traceAirway(reverseSlices(volume), reverseSliceMask(air, volume.size));
  if (flipped === undefined) return undefined;
  const flippedSpan = zSpanMm(flipped.mask, volume);
  if (flippedSpan < LONG_AIRWAY_MM || flippedSpan < 2 * span) return undefined;
  return (
    `The trachea appears at the inferior end of the scan (an airway of ${flippedSpan.toFixed(0)} ` +
    `mm traced from the bottom, ${span.toFixed(0)} mm from the top), so the slice order may be ` +
    'reversed relative to the header. Check the orientation in a viewer; if the scan is upside ' +
    'down, fix its header or slice order and run it again, because the zones and maps assume ' +
    'the header is right.'
  );
}

/** Extent of a mask along z (axis k), in mm, or 0 for an empty mask. */
function zSpanMm(mask: Uint8Array, volume: Volume): number {
  const [nx, ny, nz] = volume.size;
  const slice = nx * ny;
  let lowest = -1;
  let highest = -1;
  for (let k = 0; k < nz; k++) {
    const start = k * slice;
    const occupied = mask.subarray(start, start + slice).includes(1);
    if (!occupied) continue;
    if (lowest < 0) lowest = k;
    highest = k;
  }
  return lowest < 0 ? 0 : (highest - lowest + 1) * volume.spacingMm[2];
}

function reverseSlices(volume: Volume): Volume {
  const [nx, ny, nz] = volume.size;
  const slice = nx * ny;
  const data = new Int16Array(volume.data.length);
  for (let k = 0; k < nz; k++) {
    data.set(volume.data.subarray(k * slice, (k + 1) * slice), (nz - 1 - k) * slice);
  }
  return { ...volume, data };
}

function reverseSliceMask(mask: Uint8Array, size: [number, number, number]): Uint8Array {
  const [nx, ny, nz] = size;
  const slice = nx * ny;
  const reversed = new Uint8Array(mask.length);
  for (let k = 0; k < nz; k++) {
    reversed.set(mask.subarray(k * slice, (k + 1) * slice), (nz - 1 - k) * slice);
  }
  return reversed;
}

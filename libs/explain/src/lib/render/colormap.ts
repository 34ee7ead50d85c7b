import { rgb } from 'd3-color';
import {
  interpolateCividis,
  interpolateInferno,
  interpolateMagma,
  interpolatePlasma,
  interpolateViridis,
} from 'd3-scale-chromatic';

import type { OverlayColormap } from './overlay-types.ts';

// The colours come from d3-scale-chromatic 3.x (ISC licence), which interpolates published
// tables: matplotlib's viridis, inferno, magma and plasma, and cividis.
const INTERPOLATORS: Record<OverlayColormap, (t: number) => string> = {
  inferno: interpolateInferno,
  viridis: interpolateViridis,
  magma: interpolateMagma,
  plasma: interpolatePlasma,
  cividis: interpolateCividis,
};

/** Entries in a colour lookup table. */
export const COLORMAP_ENTRIES = 256;

/**
 * Builds a lookup table of `COLORMAP_ENTRIES` RGB triples, entry `n` holding the colour at
 * `n / (COLORMAP_ENTRIES - 1)` from the low end of the map to the high end.
 */
export function buildColormapTable(name: OverlayColormap): Uint8Array {
  const interpolate = INTERPOLATORS[name];
  const table = new Uint8Array(3 * COLORMAP_ENTRIES);
  for (let n = 0; n < COLORMAP_ENTRIES; n++) {
    const colour = rgb(interpolate(n / (COLORMAP_ENTRIES - 1)));
    table[3 * n] = Math.round(colour.r);
    table[3 * n + 1] = Math.round(colour.g);
    table[3 * n + 2] = Math.round(colour.b);
  }
  return table;
}

/** Returns the table entry for `fraction` of the colour range, clamped to [0, 1]. */
export function colormapEntry(fraction: number): number {
  const clamped = Math.min(1, Math.max(0, fraction));
  return Math.round(clamped * (COLORMAP_ENTRIES - 1));
}

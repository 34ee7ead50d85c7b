import { LUNG_LABELS } from '../volume.ts';

export const LUNG_THIRDS = ['upper', 'middle', 'lower'] as const;
export type LungThird = (typeof LUNG_THIRDS)[number];
export type LungSide = 'right' | 'left';
/** Peripheral rind (within the rind depth of the lung surface) or core (deeper). */
export type RindOrCore = 'rind' | 'core';

/**
 * Returns the zone code of a voxel: `1 + 6 * (lung - 1) + 2 * third + (core ? 1 : 0)`, so the
 * right lung has codes 1 to 6 and the left lung 7 to 12; 0 is outside the lungs.
 *
 * @param lung `LUNG_LABELS.right` or `LUNG_LABELS.left`.
 * @param third 0 upper, 1 middle, 2 lower.
 */
export function zoneCode(lung: number, third: number, core: boolean): number {
  return 1 + 6 * (lung - 1) + 2 * third + (core ? 1 : 0);
}

/** Splits a zone code into its lung side, third and rind/core, or returns undefined for 0. */
export function decodeZone(
  code: number,
): { side: LungSide; third: LungThird; depth: RindOrCore } | undefined {
  if (!Number.isInteger(code) || code < 1 || code > 12) return undefined;
  const offset = code - 1;
  const lung = Math.floor(offset / 6) + 1;
  return {
    side: lung === LUNG_LABELS.right ? 'right' : 'left',
    third: LUNG_THIRDS[Math.floor((offset % 6) / 2)],
    depth: offset % 2 === 1 ? 'core' : 'rind',
  };
}

/** Zone name by code, for example `ZONE_NAMES[1] === 'right-upper-rind'`. */
export const ZONE_NAMES: Readonly<Record<number, string>> = Object.freeze(
  Object.fromEntries(
    Array.from({ length: 12 }, (_, n) => {
      const zone = decodeZone(n + 1)!;
      return [n + 1, `${zone.side}-${zone.third}-${zone.depth}`];
    }),
  ),
);

import { requireFinite, requireLength } from './argument-checks.ts';

/**
 * Sums per-patch values by zone, for example patch attributions in ml/min/mmHg by lung zone.
 * Zones appear in the returned map in order of their first patch.
 *
 * @param values - One value per patch.
 * @param zoneOfPatch - Zone of each patch: a zone code or a name, aligned with `values`.
 * @returns The sum of the values of each zone's patches.
 * @throws ExplainTypeError when the lengths differ or a value is not a finite number.
 * @example
 * ```ts
 * const byZone = zoneSums(result.attribution, bag.patches.zone);
 * ```
 */
export function zoneSums<Zone extends string | number>(
  values: ArrayLike<number>,
  zoneOfPatch: ArrayLike<Zone>,
): Map<Zone, number> {
  requireLength('zoneOfPatch', zoneOfPatch, values.length, 'one zone per patch value');
  const sums = new Map<Zone, number>();
  for (let n = 0; n < values.length; n++) {
    const value = requireFinite(`values[${n}]`, values[n]);
    sums.set(zoneOfPatch[n], (sums.get(zoneOfPatch[n]) ?? 0) + value);
  }
  return sums;
}

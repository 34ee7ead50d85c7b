import type { PatchArrays } from '@dlco/preprocess';

import type { PatchResult, RegionResult } from './prediction-types.ts';

/** Name of the zone of patches whose zone code is 0 or missing from the zone table. */
export const UNZONED = 'unzoned';

/** Definition of the healthy expectation and the deficit, as `result.json` states it. */
export const DEFICIT_DEFINITION =
  'expected = GLI predicted DLCO x (lung mL of the patch or zone / lung mL of all patches); ' +
  'deficit = expected - contribution, in ml/min/mmHg. Deficits sum to predicted - estimate; a ' +
  'positive deficit means the region contributes less than its volume share of a healthy lung.';

/** Per-patch values in ml/min/mmHg, aligned with the patch arrays. */
export interface PatchValues {
  contributions: ArrayLike<number>;
  /** Null when there are no reference values. */
  expected: Float64Array | null;
  deficits: Float64Array | null;
  weights: ArrayLike<number>;
  attentionWeights?: ArrayLike<number> | null;
  occlusion?: ArrayLike<number>;
}

/**
 * Splits the GLI predicted DLCO over the patches by lung volume and returns each patch's
 * healthy expectation and deficit (expectation minus contribution), in ml/min/mmHg.
 */
export function patchDeficits(
  contributions: ArrayLike<number>,
  lungMl: ArrayLike<number>,
  predicted: number | null,
): { expected: Float64Array | null; deficits: Float64Array | null } {
  if (predicted === null) return { expected: null, deficits: null };
  let totalMl = 0;
  for (let n = 0; n < lungMl.length; n++) totalMl += lungMl[n];
  const expected = Float64Array.from(lungMl, (ml) => (predicted * ml) / totalMl);
  const deficits = expected.map((value, n) => value - contributions[n]);
  return { expected, deficits };
}

/** Returns the zone name of each patch from the card's zone table. */
export function patchZoneNames(zone: ArrayLike<number>, zones: Record<string, string>): string[] {
  return Array.from(zone, (code) => zones[String(code)] ?? UNZONED);
}

/**
 * Sums patch values by zone, in zone-code order. Sums are in double precision, so the zones'
 * contributions add up to the sum of the patch contributions.
 */
export function buildRegions(
  patches: PatchArrays,
  zones: Record<string, string>,
  values: PatchValues,
  shapley?: Map<string, number>,
): RegionResult[] {
  const names = patchZoneNames(patches.zone, zones);
  const byName = new Map<string, RegionResult>();
  const codes = Array.from(patches.zone).sort((a, b) => a - b);
  for (const code of codes) {
    const name = zones[String(code)] ?? UNZONED;
    if (byName.has(name)) continue;
    byName.set(name, {
      zone: name,
      zoneCode: name === UNZONED ? 0 : code,
      lungVolumeMl: 0,
      patchCount: 0,
      contributionMlMinMmHg: 0,
      expectedMlMinMmHg: values.expected ? 0 : null,
      deficitMlMinMmHg: values.deficits ? 0 : null,
      ...(values.occlusion ? { occlusionMlMinMmHg: 0 } : {}),
    });
  }
  for (let n = 0; n < patches.count; n++) {
    const region = byName.get(names[n])!;
    region.lungVolumeMl += patches.lungMl[n];
    region.patchCount += 1;
    region.contributionMlMinMmHg += values.contributions[n];
    if (values.expected) region.expectedMlMinMmHg! += values.expected[n];
    if (values.deficits) region.deficitMlMinMmHg! += values.deficits[n];
    if (values.occlusion) region.occlusionMlMinMmHg! += values.occlusion[n];
  }
  if (shapley) {
    for (const [zone, value] of shapley) {
      const region = byName.get(zone);
      if (region) region.shapleyMlMinMmHg = value;
    }
  }
  return [...byName.values()];
}

/** Lists every patch with its position, zone and values. */
export function buildPatchResults(
  patches: PatchArrays,
  zones: Record<string, string>,
  values: PatchValues,
): PatchResult[] {
  const names = patchZoneNames(patches.zone, zones);
  return Array.from({ length: patches.count }, (_, n) => {
    const patch: PatchResult = {
      index: n,
      zone: names[n],
      cornerIjk: [
        patches.cornerIjk[3 * n],
        patches.cornerIjk[3 * n + 1],
        patches.cornerIjk[3 * n + 2],
      ],
      centerMm: [
        patches.centersMm[3 * n],
        patches.centersMm[3 * n + 1],
        patches.centersMm[3 * n + 2],
      ],
      lungMl: patches.lungMl[n],
      contributionMlMinMmHg: values.contributions[n],
      deficitMlMinMmHg: values.deficits ? values.deficits[n] : null,
      weight: values.weights[n],
    };
    if (values.attentionWeights) patch.attentionWeight = values.attentionWeights[n];
    if (values.occlusion) patch.occlusionMlMinMmHg = values.occlusion[n];
    return patch;
  });
}

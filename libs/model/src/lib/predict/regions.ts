import type { PatchArrays } from '@dlco/preprocess';

import type { AggregateResult } from '../model.ts';
import type { PatchResult, RegionResult } from './prediction-types.ts';

/** Name of the zone of patches whose zone code is 0 or missing from the zone table. */
export const UNZONED = 'unzoned';

/**
 * Definition of the healthy expectation and the deficit that `result.json` states when the model
 * has no `expected` output: the GLI predicted DLCO split by lung volume.
 */
export const DEFICIT_DEFINITION =
  'expected = GLI predicted DLCO x (lung mL of the patch or zone / lung mL of all patches); ' +
  'deficit = expected - contribution, in ml/min/mmHg. Deficits sum to predicted - estimate; a ' +
  'positive deficit means the region contributes less than its volume share of a healthy lung.';

/**
 * Definition of the healthy expectation and the deficit that `result.json` states when the model
 * outputs each patch's healthy contribution (`expected`, retained-fraction pooling).
 */
export const MODEL_DEFICIT_DEFINITION =
  'expected = the contribution the patch would make if healthy, as the model outputs it ' +
  '(aggregator output expected), summed over the patches of a zone. For a retained-fraction ' +
  "model with metadata it is the GLI predicted DLCO at standard Hb x the model's global factor x " +
  "the patch's perfusion-weighted share of patch lung volume. deficit = expected - contribution, " +
  'in ml/min/mmHg. Deficits sum to the sum of expected - estimate, not to predicted - estimate, ' +
  'because the global factor scales the expectation. A positive deficit means the region ' +
  'retains less than its healthy contribution.';

/** Healthy expectation and deficit per patch, with the definition `result.json` states. */
export interface PatchDeficits {
  /** Healthy contribution per patch in ml/min/mmHg, or null without reference values. */
  expected: Float64Array | null;
  /** `expected - contribution` per patch in ml/min/mmHg, or null without reference values. */
  deficits: Float64Array | null;
  /** `DEFICIT_DEFINITION` or `MODEL_DEFICIT_DEFINITION`. */
  definition: string;
  /** Sum of expected minus the estimate, in ml/min/mmHg, or null without reference values. */
  totalMlMinMmHg: number | null;
}

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
 * Returns each patch's healthy expectation and deficit (expectation minus contribution), in
 * ml/min/mmHg. The expectation is the model's `expected` output when the graph has one, and
 * otherwise the GLI predicted DLCO split over the patches by lung volume.
 *
 * Without a GLI predicted value there is no deficit, also for a model with `expected`: such a
 * model then computed its expectation from the training mean of the GLI value, not the subject's.
 */
export function patchDeficits(
  aggregate: Pick<AggregateResult, 'estimate' | 'contributions' | 'expected'>,
  lungMl: ArrayLike<number>,
  predicted: number | null,
): PatchDeficits {
  const definition = aggregate.expected ? MODEL_DEFICIT_DEFINITION : DEFICIT_DEFINITION;
  if (predicted === null) {
    return { expected: null, deficits: null, definition, totalMlMinMmHg: null };
  }
  let expected: Float64Array;
  let totalExpected: number;
  if (aggregate.expected) {
    expected = Float64Array.from(aggregate.expected);
    totalExpected = expected.reduce((total, value) => total + value, 0);
  } else {
    let totalMl = 0;
    for (let n = 0; n < lungMl.length; n++) totalMl += lungMl[n];
    expected = Float64Array.from(lungMl, (ml) => (predicted * ml) / totalMl);
    totalExpected = predicted;
  }
  const deficits = expected.map((value, n) => value - aggregate.contributions[n]);
  return {
    expected,
    deficits,
    definition,
    totalMlMinMmHg: totalExpected - aggregate.estimate,
  };
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

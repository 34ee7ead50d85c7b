import { requireInteger, requireModelOutput } from './argument-checks.ts';
import { ExplainRangeError } from './errors.ts';

/** Model estimate with the given patches removed (for example replaced by healthy tissue). */
export type RemovedPatchesEstimate = (removed: Set<number>) => Promise<number>;

export interface RemovalCurveOptions {
  /** Number of intervals between 0 and all patches removed: the curve has `steps + 1` points. */
  steps: number;
  /** Called after every evaluation. */
  onProgress?: (progress: { evaluations: number; total: number }) => void;
  /** Stops before the next evaluation with the signal's reason. */
  signal?: AbortSignal;
}

/** One point of a deletion or insertion curve. */
export interface RemovalCurvePoint {
  /** Share (0 to 1) of the ordered patches that are removed (deletion) or inserted (insertion). */
  fraction: number;
  /** Number of patches removed or inserted. */
  patches: number;
  /** Model estimate at this point, in the unit of `evaluate`. */
  estimate: number;
}

export interface RemovalCurveResult {
  points: RemovalCurvePoint[];
  /** Trapezoidal area under estimate over fraction, in the unit of `evaluate`. */
  auc: number;
  /**
   * Area under the curve after mapping the estimate with no patch removed to 1 and the estimate
   * with every ordered patch removed to 0, so it is unit-free and comparable across scans.
   * It lies in [0, 1] when the curve stays between its end points, and it is NaN when both end
   * points are equal. For deletion lower is better, for insertion higher is better.
   */
  normalisedAuc: number;
  /** Estimate with no ordered patch removed. */
  intactEstimate: number;
  /** Estimate with every ordered patch removed. */
  removedEstimate: number;
  /** Calls of `evaluate`: the number of distinct points. */
  evaluations: number;
}

/**
 * Computes a deletion curve: patches are removed in the given order, most attributed first,
 * and the estimate is recorded at `steps + 1` evenly spaced fractions. A faithful attribution
 * makes the estimate fall fast, so its normalised AUC is low.
 *
 * @param order - Distinct patch indices, most attributed first. Fractions refer to its length.
 * @param evaluate - Model estimate with a set of patches removed. Receives a fresh set each call.
 * @param options - Number of steps, progress and cancellation.
 * @returns The curve, its AUC in the estimate's unit and the normalised AUC.
 * @example
 * ```ts
 * const byDeficit = patchIndices.sort((a, b) => attribution[a] - attribution[b]);
 * const { normalisedAuc } = await deletionCurve(byDeficit, estimateWithHealthy, { steps: 20 });
 * ```
 */
export function deletionCurve(
  order: readonly number[],
  evaluate: RemovedPatchesEstimate,
  options: RemovalCurveOptions,
): Promise<RemovalCurveResult> {
  return removalCurve(order, evaluate, options, 'deletion');
}

/**
 * Computes an insertion curve: starting with every ordered patch removed, patches are restored
 * in the given order, most attributed first. A faithful attribution makes the estimate recover
 * fast, so its normalised AUC is high.
 *
 * @param order - Distinct patch indices, most attributed first. Fractions refer to its length.
 * @param evaluate - Model estimate with a set of patches removed. Receives a fresh set each call.
 * @param options - Number of steps, progress and cancellation.
 * @returns The curve, its AUC in the estimate's unit and the normalised AUC.
 * @example
 * ```ts
 * const { normalisedAuc } = await insertionCurve(byDeficit, estimateWithHealthy, { steps: 20 });
 * ```
 */
export function insertionCurve(
  order: readonly number[],
  evaluate: RemovedPatchesEstimate,
  options: RemovalCurveOptions,
): Promise<RemovalCurveResult> {
  return removalCurve(order, evaluate, options, 'insertion');
}

async function removalCurve(
  order: readonly number[],
  evaluate: RemovedPatchesEstimate,
  options: RemovalCurveOptions,
  direction: 'deletion' | 'insertion',
): Promise<RemovalCurveResult> {
  requireOrder(order);
  const steps = requireInteger('options.steps', options.steps, 1, 'Pass 1 or more steps.');
  const counts = [
    ...new Set(Array.from({ length: steps + 1 }, (_, k) => Math.round((k * order.length) / steps))),
  ];

  const points: RemovalCurvePoint[] = [];
  for (const count of counts) {
    options.signal?.throwIfAborted();
    // Deletion removes the first `count` patches, and insertion has restored them.
    const removed = new Set(direction === 'deletion' ? order.slice(0, count) : order.slice(count));
    const label = `evaluate with ${removed.size} patches removed`;
    const estimate = requireModelOutput(label, await evaluate(removed));
    points.push({ fraction: count / order.length, patches: count, estimate });
    options.onProgress?.({ evaluations: points.length, total: counts.length });
  }

  // Deletion starts intact and ends fully removed, and insertion runs the other way.
  const first = points[0].estimate;
  const last = points[points.length - 1].estimate;
  const intactEstimate = direction === 'deletion' ? first : last;
  const removedEstimate = direction === 'deletion' ? last : first;
  const scale = intactEstimate - removedEstimate;
  return {
    points,
    auc: trapezoidArea(points, (estimate) => estimate),
    normalisedAuc: trapezoidArea(points, (estimate) => (estimate - removedEstimate) / scale),
    intactEstimate,
    removedEstimate,
    evaluations: points.length,
  };
}

function trapezoidArea(points: RemovalCurvePoint[], transform: (estimate: number) => number) {
  let area = 0;
  for (let p = 1; p < points.length; p++) {
    const width = points[p].fraction - points[p - 1].fraction;
    area += (width * (transform(points[p].estimate) + transform(points[p - 1].estimate))) / 2;
  }
  return area;
}

function requireOrder(order: readonly number[]): void {
  if (!Array.isArray(order) || order.length === 0) {
    throw new ExplainRangeError(
      'EXPLAIN_OUT_OF_RANGE',
      'order',
      order,
      'order must be a non-empty array of patch indices, most attributed first.',
    );
  }
  const seen = new Set<number>();
  order.forEach((patchIndex, position) => {
    requireInteger(`order[${position}]`, patchIndex, 0, 'Pass patch indices of 0 or more.');
    if (seen.has(patchIndex)) {
      throw new ExplainRangeError(
        'EXPLAIN_OUT_OF_RANGE',
        `order[${position}]`,
        patchIndex,
        `order[${position}] repeats patch ${patchIndex}. Each patch may appear once in order.`,
      );
    }
    seen.add(patchIndex);
  });
}

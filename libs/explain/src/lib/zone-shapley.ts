import { describeValue, requireModelOutput } from './argument-checks.ts';
import { ExplainRangeError, ExplainTypeError } from './errors.ts';
import { runPool } from './run-pool.ts';

/**
 * Maximum players for exact Shapley values. Enumeration needs 2^n value calls, so 16 players
 * already cost 65,536 calls.
 */
export const MAX_SHAPLEY_PLAYERS = 16;

/** Characteristic function: the model's estimate when only the coalition's zones are kept. */
export type CoalitionValue = (coalition: Set<string>) => Promise<number>;

export interface ZoneShapleyOptions {
  /** Value calls in flight at once (default 1). */
  concurrency?: number;
  /** Called after every value call. */
  onProgress?: (progress: { coalitions: number; total: number }) => void;
  /** Stops before the next value call with the signal's reason. */
  signal?: AbortSignal;
}

export interface ZoneShapleyResult {
  /** Players in the order given, aligned with `values`. */
  zones: string[];
  /** Shapley value of each zone, in the unit of `valueOf`. */
  values: Float64Array;
  /** Shapley value by zone name. */
  byZone: Map<string, number>;
  /** v(∅): the value with no zone kept. */
  emptyValue: number;
  /** v(all zones). The values sum to `fullValue - emptyValue` up to rounding. */
  fullValue: number;
  /** Value of every coalition, indexed by bit mask: bit i set means `zones[i]` is kept. */
  coalitionValues: Float64Array;
  /** Calls of `valueOf`, always 2^n. */
  evaluations: number;
}

/**
 * Computes exact Shapley values over a small set of players, such as lung zones.
 *
 * Every coalition S is evaluated exactly once, and zone i receives
 * Σ over S not containing i of |S|! (n − |S| − 1)! / n! · (v(S ∪ {i}) − v(S)).
 * The values therefore sum to v(all) − v(∅) (efficiency), a zone that never changes the value
 * gets 0, and for an additive game each zone gets its own contribution.
 *
 * @param zones - Distinct player names, 1 to `MAX_SHAPLEY_PLAYERS` of them.
 * @param valueOf - The characteristic function. It receives a fresh set on every call.
 * @param options - Concurrency, progress and cancellation.
 * @returns The Shapley value per zone in the unit of `valueOf` (e.g. ml/min/mmHg).
 * @throws ExplainRangeError with code `EXPLAIN_TOO_MANY_PLAYERS` for more than 16 zones.
 * @example
 * ```ts
 * const { byZone } = await zoneShapley(['RU', 'RM', 'RL', 'LU', 'LM', 'LL'], (kept) =>
 *   estimateWithOtherZonesHealthy(kept),
 * );
 * ```
 */
export async function zoneShapley(
  zones: readonly string[],
  valueOf: CoalitionValue,
  options: ZoneShapleyOptions = {},
): Promise<ZoneShapleyResult> {
  requireZones(zones);
  const playerCount = zones.length;
  const total = 2 ** playerCount;
  const coalitionValues = new Float64Array(total);
  let evaluations = 0;

  await runPool(total, options.concurrency ?? 1, async (mask) => {
    options.signal?.throwIfAborted();
    const coalition = new Set(zones.filter((_, player) => (mask & (1 << player)) !== 0));
    const label = `valueOf({${[...coalition].join(', ')}})`;
    coalitionValues[mask] = requireModelOutput(label, await valueOf(coalition));
    evaluations++;
    options.onProgress?.({ coalitions: evaluations, total });
  });

  const values = shapleyFromCoalitions(coalitionValues, playerCount);
  return {
    zones: [...zones],
    values,
    byZone: new Map(zones.map((zone, player) => [zone, values[player]])),
    emptyValue: coalitionValues[0],
    fullValue: coalitionValues[total - 1],
    coalitionValues,
    evaluations,
  };
}

/** Computes Shapley values from the values of all 2^n coalitions, indexed by bit mask. */
function shapleyFromCoalitions(coalitionValues: Float64Array, playerCount: number): Float64Array {
  const factorial = [1];
  for (let k = 1; k <= playerCount; k++) factorial.push(factorial[k - 1] * k);
  const weightBySize = Array.from(
    { length: playerCount },
    (_, size) => (factorial[size] * factorial[playerCount - size - 1]) / factorial[playerCount],
  );

  const values = new Float64Array(playerCount);
  for (let player = 0; player < playerCount; player++) {
    const bit = 1 << player;
    let sum = 0;
    for (let mask = 0; mask < coalitionValues.length; mask++) {
      if ((mask & bit) !== 0) continue;
      const marginal = coalitionValues[mask | bit] - coalitionValues[mask];
      sum += weightBySize[bitCount(mask)] * marginal;
    }
    values[player] = sum;
  }
  return values;
}

function bitCount(mask: number): number {
  let count = 0;
  for (let rest = mask; rest !== 0; rest &= rest - 1) count++;
  return count;
}

function requireZones(zones: readonly string[]): void {
  if (!Array.isArray(zones) || zones.some((zone) => typeof zone !== 'string')) {
    throw new ExplainTypeError(
      'EXPLAIN_INVALID_ARGUMENT',
      'zones',
      zones,
      `zones must be an array of zone names (strings), received ${describeValue(zones)}.`,
    );
  }
  if (zones.length > MAX_SHAPLEY_PLAYERS) {
    throw new ExplainRangeError(
      'EXPLAIN_TOO_MANY_PLAYERS',
      'zones',
      zones.length,
      `zones has ${zones.length} players, but exact Shapley values accept at most ` +
        `${MAX_SHAPLEY_PLAYERS} because they need 2^n value calls. Merge zones into at most ` +
        `${MAX_SHAPLEY_PLAYERS} groups, or use a sampling estimator.`,
    );
  }
  if (zones.length === 0) {
    throw new ExplainRangeError(
      'EXPLAIN_OUT_OF_RANGE',
      'zones',
      zones.length,
      'zones must contain at least 1 zone name, received an empty array.',
    );
  }
  const duplicate = zones.find((zone, index) => zones.indexOf(zone) !== index);
  if (duplicate !== undefined) {
    throw new ExplainRangeError(
      'EXPLAIN_INVALID_ARGUMENT',
      'zones',
      duplicate,
      `zones must be distinct, but '${duplicate}' appears more than once. Remove the duplicate.`,
    );
  }
}

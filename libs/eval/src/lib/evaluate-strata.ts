import { meanAbsoluteError, meanBias } from './agreement-metrics.ts';
import { bootstrapStatistics, type BootstrapOptions, type Interval } from './bootstrap.ts';
import type { EvaluatedSubject } from './join-subjects.ts';
import { levelsOf, MISSING_LEVEL, sortLevels, type StratumDefinition } from './strata.ts';

/** Default minimum number of subjects for a stratum level to be read. */
export const DEFAULT_MIN_STRATUM_SIZE = 10;

/** Errors of one group of subjects. */
export interface StratumLevelResult {
  readonly level: string;
  readonly n: number;
  /** True when n is below the minimum stratum size, so the level is too small to read. */
  readonly tooSmall: boolean;
  /** Mean absolute error in ml/min/mmHg. */
  readonly mae: Interval;
  /** Mean of estimate minus measured in ml/min/mmHg. */
  readonly bias: Interval;
}

/** MAE of the worst level minus the best, with the levels compared. */
export interface SubgroupGap {
  readonly worstLevel: string;
  readonly bestLevel: string;
  /** Difference of MAE in ml/min/mmHg, worst minus best. */
  readonly maeDifference: Interval;
}

/** One stratum's per-level errors and subgroup gap. */
export interface StratumResult {
  readonly stratum: string;
  readonly levels: readonly StratumLevelResult[];
  /** Null when fewer than two levels are large enough and not missing. */
  readonly gap: SubgroupGap | null;
}

/** Settings of {@link evaluateStratum}. */
export interface StratumOptions extends BootstrapOptions {
  /** Levels with fewer subjects are flagged `tooSmall` and left out of the gap; default 10. */
  readonly minStratumSize?: number;
}

/**
 * Computes MAE and bias per level of a stratum, and the subgroup gap (worst minus best MAE).
 * Resamples are drawn from all subjects, so level sizes vary between resamples as they would
 * between cohorts. The worst and best levels are fixed from the full sample, so the gap's
 * interval is that of one named difference and can include 0.
 */
export function evaluateStratum(
  stratum: StratumDefinition,
  subjects: readonly EvaluatedSubject[],
  options: StratumOptions = {},
): StratumResult {
  const minSize = options.minStratumSize ?? DEFAULT_MIN_STRATUM_SIZE;
  const levelOfSubject = levelsOf(
    stratum,
    subjects.map((subject) => subject.label),
  );
  const levels = sortLevels(stratum, new Set(levelOfSubject));
  const counts = new Map(levels.map((level) => [level, 0]));
  for (const level of levelOfSubject) counts.set(level, counts.get(level)! + 1);

  const errorsByLevel = (indices: Int32Array) => {
    const values: Record<string, number> = {};
    for (const level of levels) {
      const picked = Array.from(indices).filter((i) => levelOfSubject[i] === level);
      const estimate = picked.map((i) => subjects[i].estimate);
      const measured = picked.map((i) => subjects[i].measured);
      values[`mae:${level}`] = meanAbsoluteError(estimate, measured);
      values[`bias:${level}`] = meanBias(estimate, measured);
    }
    return values;
  };

  const pointValues = errorsByLevel(Int32Array.from(subjects, (_, i) => i));
  const readable = levels.filter(
    (level) => level !== MISSING_LEVEL && counts.get(level)! >= minSize,
  );
  const ranked = [...readable].sort((a, b) => pointValues[`mae:${b}`] - pointValues[`mae:${a}`]);
  const worstLevel = ranked[0];
  const bestLevel = ranked[ranked.length - 1];

  const intervals = bootstrapStatistics(
    subjects.length,
    (indices) => {
      const values = errorsByLevel(indices);
      if (ranked.length >= 2) {
        values.gap = values[`mae:${worstLevel}`] - values[`mae:${bestLevel}`];
      }
      return values;
    },
    options,
  );

  return {
    stratum: stratum.name,
    levels: levels.map((level) => ({
      level,
      n: counts.get(level)!,
      tooSmall: counts.get(level)! < minSize,
      mae: intervals[`mae:${level}`],
      bias: intervals[`bias:${level}`],
    })),
    gap: ranked.length >= 2 ? { worstLevel, bestLevel, maeDifference: intervals.gap } : null,
  };
}

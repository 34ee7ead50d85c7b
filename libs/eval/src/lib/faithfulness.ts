import { access, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

import {
  bootstrapStatistics,
  DEFAULT_BOOTSTRAP_RESAMPLES,
  DEFAULT_BOOTSTRAP_SEED,
  type BootstrapOptions,
  type Interval,
} from './bootstrap.ts';
import { EvalInputError } from './errors.ts';
import {
  BUILT_IN_METHODS,
  builtInAttributions,
  deletionMethod,
  readExplanationTable,
  readResultExplanations,
  tableAttribution,
  type ExplanationTable,
  type MethodAttribution,
  type ResultExplanations,
} from './faithfulness-inputs.ts';
import {
  attributionSpearman,
  meanDefined,
  median,
  normalisedRecovery,
  pointingGame,
} from './faithfulness-metrics.ts';
import {
  LESION_LABELS,
  patchBox,
  readTruthVolumes,
  sumTruthInBoxes,
  truthFilesExist,
  type SubjectTruth,
} from './faithfulness-truth.ts';
import { joinSubjects } from './join-subjects.ts';
import type { LabelsFile } from './read-labels.ts';
import type { PredictionsFile } from './read-predictions.ts';

/** Manifest column with each subject's truth folder, relative to the manifest. */
export const TRUTH_PATH_COLUMN = 'truth_path';
/** Phenotype of the negative control (no focal lesions), kept out of the `all` group. */
export const NEGATIVE_CONTROL_PHENOTYPE = 'vascular';
/** Name of the group over every phenotype except the negative control. */
export const ALL_PHENOTYPES = 'all';
/** Phenotype of subjects whose manifest row has none. */
export const UNSPECIFIED_PHENOTYPE = 'unspecified';
/** File name of a prediction's result inside its result folder. */
export const RESULT_JSON = 'result.json';

export const FAITHFULNESS_METRICS = [
  'zoneSpearman',
  'patchSpearman',
  'pointingGame',
  'pointingGameChance',
  'recoveryAuc',
  'zoneRecoveryAuc',
  'deletionAuc',
] as const;

export type FaithfulnessMetricName = (typeof FAITHFULNESS_METRICS)[number];

/**
 * Faithfulness of one method for one subject. A metric is NaN where it is undefined and absent
 * where it does not apply to the method (a patch metric of a zone-only method, or the deletion
 * curve of a method that did not rank it).
 */
export type SubjectFaithfulness = {
  readonly id: string;
  readonly phenotype: string;
  readonly method: string;
  readonly patches: number;
  readonly zones: number;
  /** Truth deficit summed over the whole volume, ml/min/mmHg. */
  readonly truthTotal: number;
  /** Share of `truthTotal` inside the patch boxes; NaN when `truthTotal` is 0. */
  readonly truthCoverage: number;
} & Partial<Record<FaithfulnessMetricName, number>>;

/** A group statistic with its interval and how many subjects it rests on. */
export interface FaithfulnessInterval extends Interval {
  /** `median`, except `mean` for the pointing game and its chance level, which are rates. */
  readonly statistic: 'median' | 'mean';
  /** Subjects where the metric is defined. */
  readonly n: number;
  /** Subjects with the method where the metric is undefined (NaN). */
  readonly nUndefined: number;
  /** Subjects of the group whose result.json or explanation CSV lacks the method. */
  readonly nMissing: number;
}

/** Metrics of one method over the subjects of one phenotype, or of `all`. */
export interface FaithfulnessGroup {
  readonly phenotype: string;
  readonly method: string;
  /** Metrics that apply to the method in at least one subject of the group. */
  readonly metrics: Partial<Record<FaithfulnessMetricName, FaithfulnessInterval>>;
}

/** The `faithfulness` part of metrics.json. */
export interface FaithfulnessReport {
  readonly resultsDir: string;
  readonly methods: readonly string[];
  readonly lesionLabels: readonly number[];
  readonly overallExcludes: readonly string[];
  readonly subjects: {
    /** Subjects with a result folder and truth volumes, used in the metrics. */
    readonly evaluated: number;
    /** Ids with an ok prediction and a truth path but no `<resultsDir>/<id>/result.json`. */
    readonly missingResults: readonly string[];
    /** Ids whose truth folder lacks deficit.nii.gz or labels.nii.gz. */
    readonly missingTruth: readonly string[];
    /** Ids with an ok prediction whose truth_path cell is empty. */
    readonly withoutTruthPath: readonly string[];
  };
  /**
   * Explanation CSV ids that were not evaluated, and truth folders whose total deficit differs
   * from the manifest's `dlco_predicted - dlco_structural`, one sentence each.
   */
  readonly warnings: readonly string[];
  readonly groups: readonly FaithfulnessGroup[];
  readonly perSubject: readonly SubjectFaithfulness[];
}

/** An extra method read from a CSV (`--explanation NAME=CSV`). */
export interface ExplanationSource {
  readonly name: string;
  readonly path: string;
}

/** Settings of {@link evaluateFaithfulness}. */
export interface FaithfulnessOptions extends BootstrapOptions {
  /** Folder with one result folder per id; default the folder of the predictions CSV. */
  readonly resultsDir?: string;
  readonly explanations?: readonly ExplanationSource[];
  /** Called after each subject, for progress output. */
  readonly onSubject?: (id: string, done: number, total: number) => void;
}

/** Returns whether the label manifest has truth folders, so faithfulness can be computed. */
export function hasTruthPaths(labels: LabelsFile): boolean {
  return labels.metadataColumns.includes(TRUTH_PATH_COLUMN);
}

/**
 * Scores explanation maps against ground-truth deficit maps for every subject with an ok
 * prediction, a label row with `truth_path`, a result folder and truth volumes. See the
 * library README for the truth per patch and zone, the sign of each method and the metrics.
 *
 * @throws EvalInputError `EVAL_COLUMN_MISSING` without a truth_path column,
 *   `EVAL_FILE_NOT_FOUND` for a missing results folder or explanation CSV,
 *   `EVAL_INPUT_INVALID` for a bad method name or CSV. An explanation CSV without a row for
 *   any evaluated subject is `EVAL_INPUT_INVALID` too, and `EVAL_TOO_FEW_SUBJECTS` means that
 *   no subject has both a result and truth.
 * @example
 * const faithfulness = await evaluateFaithfulness(predictions, labels, { seed: 1 });
 */
export async function evaluateFaithfulness(
  predictions: PredictionsFile,
  labels: LabelsFile,
  options: FaithfulnessOptions = {},
): Promise<FaithfulnessReport> {
  if (!hasTruthPaths(labels)) {
    throw new EvalInputError(
      'EVAL_COLUMN_MISSING',
      `${labels.path} has no ${TRUTH_PATH_COLUMN} column, so no ground-truth deficit maps are ` +
        'known. Use the manifest.csv of a simulated cohort.',
      { file: labels.path, column: TRUTH_PATH_COLUMN },
    );
  }
  const resultsDir = resolve(options.resultsDir ?? dirname(predictions.path));
  await requireFolder(resultsDir);
  const extras = await readExtraTables(options.explanations ?? []);
  const bootstrap = {
    resamples: options.resamples ?? DEFAULT_BOOTSTRAP_RESAMPLES,
    seed: options.seed ?? DEFAULT_BOOTSTRAP_SEED,
  };

  const missingResults: string[] = [];
  const missingTruth: string[] = [];
  const withoutTruthPath: string[] = [];
  const perSubject: SubjectFaithfulness[] = [];
  const phenotypes: string[] = [];
  const candidates = joinSubjects(predictions, labels).subjects;
  let evaluated = 0;
  const evaluatedIds = new Set<string>();
  const truthWarnings: string[] = [];
  for (const [done, subject] of candidates.entries()) {
    const truthPath = subject.label.metadata[TRUTH_PATH_COLUMN] ?? '';
    const resultPath = join(resultsDir, subject.id, RESULT_JSON);
    const truthDir = resolve(dirname(labels.path), truthPath);
    if (truthPath === '') {
      withoutTruthPath.push(subject.id);
    } else if (!(await fileExists(resultPath))) {
      missingResults.push(subject.id);
    } else if (!(await truthFilesExist(truthDir))) {
      missingTruth.push(subject.id);
    } else {
      const phenotype = subject.label.metadata.phenotype || UNSPECIFIED_PHENOTYPE;
      const result = await readResultExplanations(resultPath);
      const truth = sumTruthInBoxes(
        await readTruthVolumes(truthDir),
        result.patches.map((patch) =>
          patchBox(patch.centerMm, result.patchSizeVoxels, result.workingSpacingMm),
        ),
      );
      const mismatch = truthTotalMismatch(subject.id, subject.label.metadata, truth.totalDeficit);
      if (mismatch !== null) truthWarnings.push(mismatch);
      const methods = builtInAttributions(result);
      for (const extra of extras) {
        const attribution = tableAttribution(
          extra.name,
          extra.path,
          extra.table,
          subject.id,
          result,
        );
        if (attribution) methods.set(extra.name, attribution);
      }
      for (const [method, attribution] of methods) {
        perSubject.push(scoreMethod(subject.id, phenotype, method, attribution, result, truth));
      }
      phenotypes.push(phenotype);
      evaluatedIds.add(subject.id);
      evaluated++;
    }
    options.onSubject?.(subject.id, done + 1, candidates.length);
  }

  if (evaluated === 0) {
    throw new EvalInputError(
      'EVAL_TOO_FEW_SUBJECTS',
      `no subject has both ${join(resultsDir, '<id>', RESULT_JSON)} and truth volumes ` +
        `(${missingResults.length} without result, ${missingTruth.length} without truth files, ` +
        `${withoutTruthPath.length} with an empty ${TRUTH_PATH_COLUMN}). Pass --results with ` +
        'the --out folder of dlco batch and check the truth_path cells of the manifest, or ' +
        'pass --no-faithfulness to skip the faithfulness evaluation.',
      { file: labels.path, column: TRUTH_PATH_COLUMN },
    );
  }

  const warnings = [...truthWarnings, ...checkExtraCoverage(extras, evaluatedIds)];
  const methods = orderMethods(perSubject, extras);
  return {
    resultsDir,
    methods,
    lesionLabels: LESION_LABELS,
    overallExcludes: [NEGATIVE_CONTROL_PHENOTYPE],
    subjects: { evaluated, missingResults, missingTruth, withoutTruthPath },
    warnings,
    groups: aggregateGroups(perSubject, phenotypes, methods, bootstrap),
    perSubject,
  };
}

/**
 * Allowed gap in ml/min/mmHg between a truth folder's total deficit and the manifest's
 * `dlco_predicted - dlco_structural`: 1 % of the expected value, at least 0.01. The simulator's
 * manifest rounds both to 4 decimals, so a matching folder lands far inside it.
 */
function truthTotalTolerance(expected: number): number {
  return Math.max(0.01, 0.01 * Math.abs(expected));
}

/**
 * Compares the truth folder's total deficit with the manifest's `dlco_predicted -
 * dlco_structural`, which the simulator writes for the same subject. Returns a warning when
 * they differ, which usually means truth_path points at another subject's folder, and null
 * when they agree or the manifest lacks either column.
 */
function truthTotalMismatch(
  id: string,
  metadata: Readonly<Record<string, string>>,
  truthTotal: number,
): string | null {
  const predicted = Number(metadata.dlco_predicted ?? '');
  const structural = Number(metadata.dlco_structural ?? '');
  if (metadata.dlco_predicted === undefined || metadata.dlco_structural === undefined) return null;
  if (!Number.isFinite(predicted) || !Number.isFinite(structural)) return null;
  const expected = predicted - structural;
  if (Math.abs(truthTotal - expected) <= truthTotalTolerance(expected)) return null;
  return (
    `the truth folder of ${id} sums to a deficit of ${truthTotal.toFixed(4)} ml/min/mmHg, but ` +
    `its dlco_predicted - dlco_structural is ${expected.toFixed(4)}. Check that its ` +
    `${TRUTH_PATH_COLUMN} points at this subject's truth folder.`
  );
}

/**
 * Checks that every explanation CSV covers at least one evaluated subject, and returns a
 * warning for each CSV with ids that were not evaluated.
 *
 * @throws EvalInputError `EVAL_INPUT_INVALID` for a CSV without a row of any evaluated subject,
 *   since its method would otherwise vanish from every output.
 */
function checkExtraCoverage(
  extras: readonly { name: string; path: string; table: ExplanationTable }[],
  evaluatedIds: ReadonlySet<string>,
): string[] {
  const warnings: string[] = [];
  for (const extra of extras) {
    const ids = [...extra.table.keys()];
    const unknown = ids.filter((id) => !evaluatedIds.has(id));
    const shown = unknown.slice(0, 5).join(', ') + (unknown.length > 5 ? ', ...' : '');
    if (unknown.length === ids.length) {
      throw new EvalInputError(
        'EVAL_INPUT_INVALID',
        `--explanation ${extra.name}=${extra.path} has no row for any of the ` +
          `${evaluatedIds.size} subjects with results and truth (its ids: ${shown}). Use the ids of the ` +
          'predictions CSV.',
        { file: extra.path, column: 'id' },
      );
    }
    if (unknown.length > 0) {
      warnings.push(
        `--explanation ${extra.name}=${extra.path} has rows for ${unknown.length} ids that ` +
          `were not evaluated for faithfulness (${shown}); they are ignored.`,
      );
    }
  }
  return warnings;
}

/** Computes every metric of one method for one subject. */
export function scoreMethod(
  id: string,
  phenotype: string,
  method: string,
  attribution: MethodAttribution,
  result: ResultExplanations,
  truth: SubjectTruth,
): SubjectFaithfulness {
  const patchTruth = truth.patches.map((patch) => patch.deficit);
  const zoneTruth = new Map<string, number>();
  result.patches.forEach((patch, n) =>
    zoneTruth.set(patch.zone, (zoneTruth.get(patch.zone) ?? 0) + patchTruth[n]),
  );
  const zoneNames = [...zoneTruth.keys()];
  const zoneAttributed = zoneNames.map((zone) => attribution.zones.get(zone) ?? NaN);
  const zoneTrue = zoneNames.map((zone) => zoneTruth.get(zone)!);
  const inPatches = patchTruth.reduce((sum, value) => sum + value, 0);

  const scores: Partial<Record<FaithfulnessMetricName, number>> = {
    zoneSpearman: attributionSpearman(zoneAttributed, zoneTrue),
    zoneRecoveryAuc: normalisedRecovery(zoneAttributed, zoneTrue),
  };
  if (attribution.patches !== undefined) {
    scores.patchSpearman = attributionSpearman(attribution.patches, patchTruth);
    scores.pointingGame = pointingGame(
      attribution.patches,
      truth.patches.map((patch) => patch.lesionVoxels > 0),
    );
    // A constant attribution ties every patch, so this is the hit rate of a random pick.
    scores.pointingGameChance = pointingGame(
      attribution.patches.map(() => 0),
      truth.patches.map((patch) => patch.lesionVoxels > 0),
    );
    scores.recoveryAuc = normalisedRecovery(attribution.patches, patchTruth);
  }
  if (result.deletion && deletionMethod(result.deletion.rankedBy) === method) {
    scores.deletionAuc = result.deletion.normalisedAuc ?? NaN;
  }
  return {
    id,
    phenotype,
    method,
    patches: result.patches.length,
    zones: zoneNames.length,
    truthTotal: truth.totalDeficit,
    truthCoverage: truth.totalDeficit === 0 ? NaN : inPatches / truth.totalDeficit,
    ...scores,
  };
}

/**
 * Aggregates per method and phenotype, then per method over every phenotype but the negative
 * control, with seeded bootstrap intervals over the subjects where each metric is defined.
 */
export function aggregateGroups(
  perSubject: readonly SubjectFaithfulness[],
  phenotypes: readonly string[],
  methods: readonly string[],
  bootstrap: BootstrapOptions,
): FaithfulnessGroup[] {
  const levels = [...new Set(phenotypes)].sort();
  const groups: { phenotype: string; includes: (phenotype: string) => boolean; size: number }[] = [
    {
      phenotype: ALL_PHENOTYPES,
      includes: (phenotype) => phenotype !== NEGATIVE_CONTROL_PHENOTYPE,
      size: phenotypes.filter((phenotype) => phenotype !== NEGATIVE_CONTROL_PHENOTYPE).length,
    },
    ...levels.map((level) => ({
      phenotype: level,
      includes: (phenotype: string) => phenotype === level,
      size: phenotypes.filter((phenotype) => phenotype === level).length,
    })),
  ];
  const results: FaithfulnessGroup[] = [];
  for (const method of methods) {
    for (const group of groups) {
      if (group.size === 0) continue;
      const rows = perSubject.filter(
        (row) => row.method === method && group.includes(row.phenotype),
      );
      const metrics: Partial<Record<FaithfulnessMetricName, FaithfulnessInterval>> = {};
      for (const metric of FAITHFULNESS_METRICS) {
        const applicable = rows.filter((row) => row[metric] !== undefined);
        if (applicable.length === 0) continue;
        const values = applicable.map((row) => row[metric]!);
        const defined = values.filter((value) => !Number.isNaN(value));
        const isRate = metric === 'pointingGame' || metric === 'pointingGameChance';
        const statistic = isRate ? 'mean' : 'median';
        const summarise = statistic === 'mean' ? meanDefined : median;
        metrics[metric] = {
          statistic,
          ...intervalOf(defined, summarise, bootstrap),
          n: defined.length,
          nUndefined: values.length - defined.length,
          nMissing: group.size - rows.length,
        };
      }
      results.push({ phenotype: group.phenotype, method, metrics });
    }
  }
  return results;
}

function intervalOf(
  values: readonly number[],
  summarise: (values: readonly number[]) => number,
  bootstrap: BootstrapOptions,
): Interval {
  if (values.length === 0) {
    return { estimate: NaN, lower: NaN, upper: NaN, undefinedResamples: 0 };
  }
  const { value } = bootstrapStatistics(
    values.length,
    (indices) => ({ value: summarise(Array.from(indices, (index) => values[index])) }),
    bootstrap,
  );
  return value;
}

function orderMethods(
  perSubject: readonly SubjectFaithfulness[],
  extras: readonly { name: string }[],
): string[] {
  const present = new Set(perSubject.map((row) => row.method));
  return [...BUILT_IN_METHODS, ...extras.map((extra) => extra.name)].filter((method) =>
    present.has(method),
  );
}

async function readExtraTables(
  sources: readonly ExplanationSource[],
): Promise<{ name: string; path: string; table: ExplanationTable }[]> {
  const seen = new Set<string>(BUILT_IN_METHODS);
  const tables = [];
  for (const source of sources) {
    if (!/^[A-Za-z][\w.-]*$/.test(source.name) || seen.has(source.name)) {
      const problem = seen.has(source.name) ? 'is already used' : 'is not a valid method name';
      throw new EvalInputError(
        'EVAL_INPUT_INVALID',
        `--explanation name '${source.name}' ${problem}. Use a new name of letters, digits, ` +
          `'.', '_' or '-' that is not one of ${BUILT_IN_METHODS.join(', ')}.`,
        { column: 'explanation' },
      );
    }
    seen.add(source.name);
    const path = resolve(source.path);
    tables.push({ name: source.name, path, table: await readExplanationTable(path) });
  }
  return tables;
}

async function requireFolder(dir: string): Promise<void> {
  const info = await stat(dir).catch(() => null);
  if (info === null || !info.isDirectory()) {
    throw new EvalInputError(
      'EVAL_FILE_NOT_FOUND',
      `results folder ${dir} does not exist or is not a folder. Pass --results with the --out ` +
        'folder of dlco batch, which holds one <id>/result.json per scan.',
      { file: dir, column: 'results' },
    );
  }
}

function fileExists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

import { readFile } from 'node:fs/promises';

import { EvalInputError } from './errors.ts';
import { readCsvTable } from './read-csv.ts';

/** Explanation methods read from result.json. */
export const BUILT_IN_METHODS = ['contributions', 'attention', 'occlusion', 'shapley'] as const;

/**
 * Zone name that result.json gives patches outside every zone. Zone Shapley values leave these
 * patches in place, so Shapley attributes no deficit to them.
 */
export const UNZONED = 'unzoned';

/** One patch of result.json, with the fields the faithfulness metrics use. */
export interface ResultPatch {
  readonly index: number;
  readonly zone: string;
  /** Patch centre in LPS, mm. */
  readonly centerMm: readonly number[];
  readonly deficitMlMinMmHg: number | null;
  readonly attentionWeight?: number;
  readonly occlusionMlMinMmHg?: number;
}

/** The parts of one result.json that the faithfulness metrics use. */
export interface ResultExplanations {
  readonly path: string;
  readonly patches: readonly ResultPatch[];
  /** Zone name to Shapley value (ml/min/mmHg), for zones that have one. */
  readonly shapleyByZone: ReadonlyMap<string, number>;
  /** Patch edge in working-grid voxels, from `preprocessing.params`. */
  readonly patchSizeVoxels: number;
  /** Working-grid spacing in mm, from `preprocessing.params`. */
  readonly workingSpacingMm: number;
  /** `explanations.deletion`, when the prediction computed it. */
  readonly deletion?: { readonly rankedBy: string; readonly normalisedAuc: number | null };
}

/**
 * Attributed deficit of one method for one subject, larger meaning more deficit. Patch values
 * follow the order of `ResultExplanations.patches`; zone-only methods have none.
 */
export interface MethodAttribution {
  readonly patches?: readonly number[];
  readonly zones: ReadonlyMap<string, number>;
}

/** Extra method values by id, then by patch index. */
export type ExplanationTable = ReadonlyMap<string, ReadonlyMap<number, number>>;

/**
 * Reads result.json of one prediction.
 *
 * @throws EvalInputError `EVAL_FILE_NOT_FOUND` when it cannot be read, and `EVAL_INPUT_INVALID`
 *   when it is not JSON or lacks `patches` or `preprocessing.params`.
 */
export async function readResultExplanations(path: string): Promise<ResultExplanations> {
  let result: Record<string, any>;
  try {
    result = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    const code =
      (error as NodeJS.ErrnoException).code === undefined
        ? 'EVAL_INPUT_INVALID'
        : 'EVAL_FILE_NOT_FOUND';
    throw new EvalInputError(
      code,
      `cannot read ${path}: ${(error as Error).message}. Rerun dlco batch for this id.`,
      { file: path, cause: error },
    );
  }
  const params = result?.preprocessing?.params;
  if (
    !Array.isArray(result?.patches) ||
    typeof params?.patchSizeVoxels !== 'number' ||
    typeof params?.workingSpacingMm !== 'number'
  ) {
    throw new EvalInputError(
      'EVAL_INPUT_INVALID',
      `${path} lacks patches[] or preprocessing.params.patchSizeVoxels and workingSpacingMm; ` +
        'it is not a dlco predict result.json. Rerun dlco batch for this id.',
      { file: path },
    );
  }
  const shapleyByZone = new Map<string, number>();
  for (const region of result.regions ?? []) {
    if (typeof region.shapleyMlMinMmHg === 'number') {
      shapleyByZone.set(region.zone, region.shapleyMlMinMmHg);
    }
  }
  const deletion = result.explanations?.deletion;
  return {
    path,
    patches: result.patches as ResultPatch[],
    shapleyByZone,
    patchSizeVoxels: params.patchSizeVoxels,
    workingSpacingMm: params.workingSpacingMm,
    ...(deletion
      ? {
          deletion: {
            rankedBy: String(deletion.rankedBy),
            normalisedAuc: deletion.normalisedAuc ?? null,
          },
        }
      : {}),
  };
}

/** Sums patch values per zone of the patches. */
function sumByZone(
  patches: readonly ResultPatch[],
  values: readonly number[],
): Map<string, number> {
  const zones = new Map<string, number>();
  patches.forEach((patch, n) => zones.set(patch.zone, (zones.get(patch.zone) ?? 0) + values[n]));
  return zones;
}

function patchMethod(
  patches: readonly ResultPatch[],
  value: (patch: ResultPatch) => number | null | undefined,
): MethodAttribution | undefined {
  const values = patches.map(value);
  if (values.some((entry) => typeof entry !== 'number' || !Number.isFinite(entry))) {
    return undefined;
  }
  return { patches: values as number[], zones: sumByZone(patches, values as number[]) };
}

/**
 * Returns the attributed deficit of each built-in method that `result` contains, larger meaning
 * more deficit:
 * - contributions: `deficitMlMinMmHg`;
 * - attention: `attentionWeight`, an unsigned importance;
 * - occlusion: `-occlusionMlMinMmHg`, the DLCO the patch removes;
 * - shapley: `-shapleyMlMinMmHg` per zone, the DLCO the zone removes against the healthy
 *   reference, and 0 for unzoned patches.
 *
 * A method is absent when any patch (for Shapley, any zoned patch's zone) lacks its value.
 */
export function builtInAttributions(result: ResultExplanations): Map<string, MethodAttribution> {
  const methods = new Map<string, MethodAttribution>();
  const { patches } = result;
  const contributions = patchMethod(patches, (patch) => patch.deficitMlMinMmHg);
  if (contributions) methods.set('contributions', contributions);
  const attention = patchMethod(patches, (patch) => patch.attentionWeight);
  if (attention) methods.set('attention', attention);
  const occlusion = patchMethod(patches, (patch) =>
    patch.occlusionMlMinMmHg === undefined ? undefined : -patch.occlusionMlMinMmHg,
  );
  if (occlusion) methods.set('occlusion', occlusion);

  const zones = [...new Set(patches.map((patch) => patch.zone))];
  const scored = zones.filter((zone) => zone !== UNZONED);
  if (result.shapleyByZone.size > 0 && scored.every((zone) => result.shapleyByZone.has(zone))) {
    const shapley = new Map(
      zones.map((zone) => [zone, zone === UNZONED ? 0 : -result.shapleyByZone.get(zone)!]),
    );
    methods.set('shapley', { zones: shapley });
  }
  return methods;
}

/**
 * Returns the attribution of an extra method for one subject, or undefined when the table has
 * no rows for `id`.
 *
 * @throws EvalInputError `EVAL_INPUT_INVALID` when the rows do not cover exactly the patches of
 *   result.json.
 */
export function tableAttribution(
  name: string,
  tablePath: string,
  table: ExplanationTable,
  id: string,
  result: ResultExplanations,
): MethodAttribution | undefined {
  const rows = table.get(id);
  if (rows === undefined) return undefined;
  const missing = result.patches
    .filter((patch) => !rows.has(patch.index))
    .map((patch) => patch.index);
  const known = new Set(result.patches.map((patch) => patch.index));
  const unknown = [...rows.keys()].filter((index) => !known.has(index));
  if (missing.length > 0 || unknown.length > 0) {
    throw new EvalInputError(
      'EVAL_INPUT_INVALID',
      `${tablePath} (--explanation ${name}) has rows for id ${id} that do not match the ` +
        `${result.patches.length} patches of ${result.path}: ` +
        `${missing.length} patch indices missing (first ${missing.slice(0, 5).join(', ') || 'none'}), ` +
        `${unknown.length} unknown (first ${unknown.slice(0, 5).join(', ') || 'none'}). ` +
        'Write one row per patches[].index of the same result.',
      { file: tablePath, column: 'patch_index' },
    );
  }
  const values = result.patches.map((patch) => rows.get(patch.index)!);
  return { patches: values, zones: sumByZone(result.patches, values) };
}

/**
 * Reads an extra explanation CSV with columns `id`, `patch_index` and `value` (attributed
 * deficit, larger meaning more deficit).
 *
 * @throws EvalInputError `EVAL_FILE_NOT_FOUND`, `EVAL_COLUMN_MISSING`, or `EVAL_INPUT_INVALID`
 *   for an empty id, a patch_index that is not a whole number >= 0, a value that is not a
 *   finite number, or a repeated (id, patch_index).
 */
export async function readExplanationTable(path: string): Promise<ExplanationTable> {
  const table = await readCsvTable(path, ['id', 'patch_index', 'value']);
  const byId = new Map<string, Map<number, number>>();
  table.rows.forEach((row, index) => {
    const where = `${path} row ${index + 1}`;
    const patchIndex = Number(row.patch_index);
    const value = Number(row.value);
    let problem: string | undefined;
    let column = 'id';
    if (row.id === '') {
      problem = 'column id is empty';
    } else if (!/^\d+$/.test(row.patch_index) || !Number.isSafeInteger(patchIndex)) {
      problem = `column patch_index is '${row.patch_index}', not a whole number >= 0`;
      column = 'patch_index';
    } else if (row.value === '' || !Number.isFinite(value)) {
      problem = `column value is '${row.value}', not a finite number`;
      column = 'value';
    } else if (byId.get(row.id)?.has(patchIndex)) {
      problem = `id ${row.id} repeats patch_index ${patchIndex}`;
      column = 'patch_index';
    }
    if (problem !== undefined) {
      throw new EvalInputError('EVAL_INPUT_INVALID', `${where}: ${problem}. Fix the row.`, {
        file: path,
        column,
      });
    }
    if (!byId.has(row.id)) byId.set(row.id, new Map());
    byId.get(row.id)!.set(patchIndex, value);
  });
  return byId;
}

/**
 * Returns the method whose ranking produced the deletion curve, from its `rankedBy` text:
 * occlusion for an occlusion ranking, contributions for a deficit or contribution ranking, and
 * undefined for any other.
 */
export function deletionMethod(rankedBy: string): string | undefined {
  if (rankedBy.startsWith('occlusion')) return 'occlusion';
  if (rankedBy.startsWith('deficit') || rankedBy.startsWith('contribution')) {
    return 'contributions';
  }
  return undefined;
}

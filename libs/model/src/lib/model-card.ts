import { ModelError } from './errors.ts';

/** Card layouts this runtime reads, as `cardFormatVersion` in `model-card.json`. */
export const SUPPORTED_CARD_FORMAT_VERSIONS: readonly number[] = [1];

/**
 * Aggregator poolings this runtime reads, as `aggregator.pooling` in `model-card.json`:
 * - `additive`: each contribution is the patch's own conductance times its lung volume;
 * - `attention`: each contribution is the patch's attention weight times the estimate;
 * - `retained_fraction`: each contribution is the patch's healthy expectation (output
 *   `expected`) times the share of it that the patch retains (output `retained_fraction`).
 */
export const POOLINGS = ['additive', 'attention', 'retained_fraction'] as const;

export type Pooling = (typeof POOLINGS)[number];

/** One graph input or output as the card describes it. */
export interface CardTensor {
  name: string;
  dtype: string;
  shape: (string | number)[];
  unit: string;
  description: string;
}

/** Training statistics of one metadata feature; the aggregator standardises with them. */
export interface CardMetadataFeature {
  name: string;
  unit: string;
  mean: number;
  std: number;
}

/**
 * The parts of `model-card.json` (written by `dlco_train.export`) that inference reads. Fields
 * not listed here stay in the parsed JSON and are passed through to results untouched.
 */
export interface ModelCard {
  cardFormatVersion: number;
  modelId: string;
  modelVersion: string;
  /** Bag format versions the model accepts. */
  bagFormatVersions: number[];
  /** Preprocessing parameters the model was trained with. */
  preprocessing: Record<string, number>;
  /** `preprocessParamsHash` of `preprocessing` and the bag format version (hex SHA-256). */
  preprocessingHash: string;
  /** File names inside the model folder. */
  files: { encoder: string; aggregator: string; referencePatch?: string; baseline?: string };
  encoder: {
    inputs: CardTensor[];
    outputs: CardTensor[];
    /** Embedding length D. */
    embeddingDim: number;
    /** Patch edge length S, in working-grid voxels. */
    patchSizeVoxels: number;
  };
  aggregator: {
    /** Pooling of patch features into contributions; see `POOLINGS`. */
    pooling: Pooling;
    inputs: CardTensor[];
    outputs: CardTensor[];
    additivity: string;
    globalFactor: string;
  };
  normalisation: {
    /** HU window the encoder clips to before scaling; applied inside `encoder.onnx`. */
    huClip: [number, number];
    /** Raw metadata features in the order of the aggregator's `metadata` input. */
    metadata: CardMetadataFeature[];
    metadataMissing: string;
    metadataUsed: boolean;
  };
  /** Zone code (decimal string) to zone name, as in the bags the model was trained on. */
  zones: Record<string, string>;
  /** Healthy reference patch for occlusion, or null when the run had none. */
  referencePatch: { file: string; dtype: string; unit: string; use: string } | null;
  uncertainty: { output: string; interval: string; nominalCoverage: number };
  /** Summary of the training cohort per split, as `dlco_train` writes it. */
  trainingCohort: unknown;
  metrics: unknown;
  intendedUse: string;
  limitations: string[];
}

/**
 * Checks the fields of a parsed `model-card.json` that inference depends on.
 *
 * @param value - the parsed JSON
 * @param source - file path named in error messages
 * @throws ModelError `MODEL_CARD_INVALID` naming the first missing or mistyped field, and
 *   `MODEL_INCOMPATIBLE` for a card format version this runtime does not read.
 */
export function parseModelCard(value: unknown, source: string): ModelCard {
  const card = requireObject(value, 'model card', source);
  const version = card.cardFormatVersion;
  if (typeof version !== 'number' || !SUPPORTED_CARD_FORMAT_VERSIONS.includes(version)) {
    throw new ModelError(
      'MODEL_INCOMPATIBLE',
      `${source}: cardFormatVersion ${JSON.stringify(version)} is not supported; this runtime ` +
        `reads ${SUPPORTED_CARD_FORMAT_VERSIONS.join(', ')}. Export the model again with a ` +
        'matching dlco_train, or update @dlco/model.',
      { field: 'cardFormatVersion', received: version, supported: SUPPORTED_CARD_FORMAT_VERSIONS },
    );
  }
  const check = fieldChecker(card, source);
  check.string('modelId');
  check.string('modelVersion');
  check.string('preprocessingHash');
  check.string('intendedUse');
  check.numberArray('bagFormatVersions');
  check.object('preprocessing');
  check.object('zones');
  check.string('files.encoder');
  check.string('files.aggregator');
  check.number('encoder.embeddingDim');
  check.number('encoder.patchSizeVoxels');
  check.array('encoder.inputs');
  check.array('aggregator.inputs');
  check.array('aggregator.outputs');
  check.string('aggregator.pooling');
  check.numberArray('normalisation.huClip');
  check.array('normalisation.metadata');
  check.string('uncertainty.interval');
  const pooling = (card.aggregator as Record<string, unknown>).pooling;
  if (!(POOLINGS as readonly unknown[]).includes(pooling)) {
    const choices = POOLINGS.map((name) => `'${name}'`);
    throw invalid(
      source,
      'aggregator.pooling',
      pooling,
      `one of ${choices.slice(0, -1).join(', ')} or ${choices.at(-1)}`,
    );
  }
  const outputs = (card.aggregator as Record<string, unknown>).outputs as unknown[];
  const outputNames = outputs.map((output) => (output as { name?: unknown } | null)?.name);
  if (pooling === 'retained_fraction' && !outputNames.includes('expected')) {
    throw invalid(
      source,
      'aggregator.outputs',
      outputNames,
      "a list that names the output 'expected', which retained_fraction pooling needs",
    );
  }
  for (const [index, feature] of (
    (card.normalisation as Record<string, unknown>).metadata as unknown[]
  ).entries()) {
    const entry = requireObject(feature, `normalisation.metadata[${index}]`, source);
    if (typeof entry.name !== 'string') {
      throw invalid(source, `normalisation.metadata[${index}].name`, entry.name, 'a string');
    }
  }
  return card as unknown as ModelCard;
}

/**
 * Returns z of the card's interval `dlco +/- z * sigma`, for example 1.96 for 95 %.
 *
 * @throws ModelError `MODEL_CARD_INVALID` when `uncertainty.interval` has another form.
 */
export function intervalZ(card: ModelCard): number {
  const match = /^\s*dlco\s*\+\/-\s*([0-9]+(?:\.[0-9]+)?)\s*\*\s*sigma\s*$/.exec(
    card.uncertainty.interval,
  );
  const z = match ? Number(match[1]) : Number.NaN;
  if (!(z > 0)) {
    throw invalid(
      'model-card.json',
      'uncertainty.interval',
      card.uncertainty.interval,
      "'dlco +/- Z * sigma'",
    );
  }
  return z;
}

function requireObject(value: unknown, what: string, source: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ModelError('MODEL_CARD_INVALID', `${source}: ${what} must be a JSON object.`, {
      field: what,
    });
  }
  return value as Record<string, unknown>;
}

function invalid(source: string, field: string, received: unknown, expected: string): ModelError {
  return new ModelError(
    'MODEL_CARD_INVALID',
    `${source}: field ${field} must be ${expected}, received ${JSON.stringify(received) ?? 'nothing'}. ` +
      'Export the model again with dlco_train.export.',
    { field, received },
  );
}

/** Returns typed field checks on dotted paths of a card object. */
function fieldChecker(card: Record<string, unknown>, source: string) {
  const read = (path: string): unknown =>
    path.split('.').reduce<unknown>((node, key) => {
      return typeof node === 'object' && node !== null
        ? (node as Record<string, unknown>)[key]
        : undefined;
    }, card);
  const require = (path: string, ok: (value: unknown) => boolean, expected: string) => {
    const value = read(path);
    if (!ok(value)) throw invalid(source, path, value, expected);
  };
  return {
    string: (path: string) =>
      require(path, (v) => typeof v === 'string' && v !== '', 'a non-empty string'),
    number: (path: string) =>
      require(path, (v) => typeof v === 'number' && Number.isFinite(v), 'a number'),
    object: (path: string) =>
      require(path, (v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'an object'),
    array: (path: string) => require(path, Array.isArray, 'an array'),
    numberArray: (path: string) =>
      require(path, (v) =>
        Array.isArray(v) && v.every((item) => typeof item === 'number'), 'an array of numbers'),
  };
}

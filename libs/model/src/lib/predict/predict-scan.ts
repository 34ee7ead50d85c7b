import type { EmbeddingBag } from '@dlco/explain';
import {
  InputError,
  preprocessParamsHash,
  preprocessScan,
  silentLogger,
  type Logger,
  type PreprocessScanResult,
} from '@dlco/preprocess';

import { ModelError } from '../errors.ts';
import { checkSubjectMetadata, metadataVector, type SubjectMetadata } from '../metadata.ts';
import type { AggregateResult, DlcoModel } from '../model.ts';
import { bagInputs, encodeReferenceReplacements, type BagInputs } from './bag-replacement.ts';
import { lungMaskOnInputGrid, patchValueMap, densityOnInputGrid } from './maps.ts';
import {
  ascendingOrder,
  explainDeletion,
  explainOcclusion,
  explainShapley,
  type PatchExplanationContext,
} from './patch-explanations.ts';
import {
  EXPLANATION_NAMES,
  type ExplanationName,
  type MapQuantity,
  type Prediction,
  type PredictScanOptions,
  type PredictTimingsMs,
} from './prediction-types.ts';
import { referenceValues } from './reference-values.ts';
import { patchDeficits } from './regions.ts';
import { assembleResult } from './result-assembly.ts';
import {
  DEFAULT_MAX_SLIDING_WINDOW_EVALUATIONS,
  explainSlidingWindow,
} from './sliding-window-explanation.ts';

const DEFAULT_EXPLANATIONS: readonly ExplanationName[] = ['contributions', 'attention'];

/**
 * Estimates DLCO for one chest CT and explains where the estimate comes from.
 *
 * The scan is preprocessed and rejected when the lungs are not covered whole. Its patches are
 * encoded and aggregated with the subject's metadata, and the estimate is compared with the GLI
 * 2017 reference. The estimate is then split into zone and patch contributions and deficits,
 * the model's global-metric baseline is scored, the requested explanations run, and the
 * contribution or deficit is mapped onto the input's grid.
 *
 * @param scanPath - scan file, DICOM folder or .zip, as `readScan` accepts
 * @param metadata - subject data; age, sex, height and weight are required
 * @param options - the loaded model, explanations, map quantity and logger
 * @returns the content of `result.json` and the voxel maps, ready for `writePrediction`
 * @throws InputError from preprocessing (for example `INPUT_TOO_FEW_SLICES`) or
 *   `LUNG_COVERAGE_INCOMPLETE`; ModelError `METADATA_INVALID` or `MODEL_INPUT_INVALID` for an
 *   unknown explanation.
 * @example
 * const model = await loadModel('models/demo', { logger });
 * const prediction = await predictScan('chest.nii.gz', { ageYears: 61, sex: 'F', heightCm: 164, weightKg: 70 }, { model });
 * await writePrediction('out/chest', prediction);
 */
export async function predictScan(
  scanPath: string,
  metadata: SubjectMetadata,
  options: PredictScanOptions,
): Promise<Prediction> {
  const { model } = options;
  const logger = options.logger ?? silentLogger;
  const explain = checkExplanations(options.explain ?? DEFAULT_EXPLANATIONS);
  const subject = checkSubjectMetadata(metadata);
  const metadataRaw = metadataVector(model.card, subject);
  const started = performance.now();
  const timings: PredictTimingsMs = {
    preprocess: 0,
    encode: 0,
    aggregate: 0,
    referenceEncode: 0,
    explain: {},
    maps: 0,
    total: 0,
  };
  const timed = async <T>(record: (ms: number) => void, run: () => Promise<T> | T): Promise<T> => {
    const stepStarted = performance.now();
    const value = await run();
    record(performance.now() - stepStarted);
    return value;
  };

  const preprocessed = await timed(
    (ms) => (timings.preprocess = ms),
    () => options.preprocessed ?? preprocessScan(scanPath, { ...options.preprocess, logger }),
  );
  requireRunningParams(preprocessed, model);
  requireCompleteLungs(preprocessed);
  const { patches } = preprocessed;
  const embeddings = await timed(
    (ms) => (timings.encode = ms),
    () => model.encodePatches(patches, { batchSize: options.batchSize, signal: options.signal }),
  );
  const inputs = bagInputs(patches, metadataRaw);
  const aggregate = await timed(
    (ms) => (timings.aggregate = ms),
    () => model.aggregate({ ...inputs, embeddings }),
  );
  logger.info(
    { estimate: aggregate.estimate, patches: patches.count, encodeMs: Math.round(timings.encode) },
    'DLCO estimated',
  );

  const reference = referenceValues(aggregate.estimate, subject);
  const deficit = patchDeficits(aggregate, patches.lungMl, reference.values.predicted);
  const { deficits } = deficit;
  const explanations = await runExplanations(explain, {
    model,
    preprocessed,
    inputs,
    embeddings,
    aggregate,
    deficits,
    options,
    timings,
    logger,
  });

  const mapStarted = performance.now();
  // Without GLI reference values there is no deficit, so the map falls back to contributions
  // and the result warns about it.
  const requestedMap = options.mapQuantity ?? 'deficit';
  const mapQuantity: MapQuantity = deficits === null ? 'contribution' : requestedMap;
  const mapValues = mapQuantity === 'deficit' ? deficits! : aggregate.contributions;
  const input = preprocessed.working.source;
  const labels = preprocessed.segmentation.labels;
  const lungMask = lungMaskOnInputGrid(labels, input);
  const map = patchValueMap(mapValues, patches, labels, input, lungMask);
  const slidingWindow = explanations.slidingWindowMap
    ? densityOnInputGrid(explanations.slidingWindowMap, labels, input)
    : null;
  timings.maps = performance.now() - mapStarted;
  timings.total = performance.now() - started;

  const result = assembleResult({
    scanPath,
    model,
    subject,
    preprocessed,
    aggregate,
    reference,
    deficit,
    explanations,
    map,
    mapQuantity,
    explain,
    timings,
  });
  // preprocessScan has logged its own warnings already, so only the others are logged here.
  const preprocessingWarnings = new Set(preprocessed.warnings);
  for (const warning of result.warnings) {
    if (!preprocessingWarnings.has(warning)) logger.warn({}, warning);
  }
  return { result, maps: { map: map.density, lungMask, slidingWindow }, preprocessed, aggregate };
}

function checkExplanations(explain: readonly string[]): ExplanationName[] {
  const unknown = explain.filter(
    (name) => !(EXPLANATION_NAMES as readonly string[]).includes(name),
  );
  if (unknown.length > 0) {
    throw new ModelError(
      'MODEL_INPUT_INVALID',
      `Unknown explanation ${unknown.map((name) => `'${name}'`).join(', ')}; choose from ` +
        `${EXPLANATION_NAMES.join(', ')} (--explain).`,
      { field: 'explain', received: unknown },
    );
  }
  return [...new Set(['contributions', ...explain])] as ExplanationName[];
}

function requireRunningParams(preprocessed: PreprocessScanResult, model: DlcoModel): void {
  const hash = preprocessParamsHash(preprocessed.params);
  if (hash !== model.card.preprocessingHash) {
    throw new ModelError(
      'MODEL_INCOMPATIBLE',
      `The preprocessed scan has preprocessing hash ${hash}, but model ${model.dir} was trained ` +
        `on ${model.card.preprocessingHash}. Preprocess the scan with DEFAULT_PREPROCESS_PARAMS.`,
      { scanHash: hash, modelHash: model.card.preprocessingHash },
    );
  }
}

function requireCompleteLungs(preprocessed: PreprocessScanResult): void {
  const { coverage, patches } = preprocessed;
  if (!coverage.complete) {
    throw new InputError(
      'LUNG_COVERAGE_INCOMPLETE',
      `The scan does not cover both lungs completely: ${coverage.reasons.join(' ')} DLCO depends ` +
        'on the whole lung, so no estimate is made. Provide a scan that covers both lungs from ' +
        'apex to base.',
      { reasons: coverage.reasons },
    );
  }
  if (patches.count === 0) {
    throw new InputError(
      'LUNGS_NOT_FOUND',
      'No lung patch was cut from the scan, so there is nothing to estimate from. Check that ' +
        'the input is a chest CT that shows the lungs.',
    );
  }
}

/** Outputs of the explanations of one prediction, for result assembly. */
export interface ExplanationOutputs {
  occlusion?: Float64Array;
  shapley?: Map<string, number>;
  summaries: Record<string, unknown>;
  /** Sliding-window attribution per working-grid voxel, in ml/min/mmHg. */
  slidingWindowMap?: Float32Array;
}

interface ExplanationRun {
  model: DlcoModel;
  preprocessed: PreprocessScanResult;
  inputs: BagInputs;
  embeddings: EmbeddingBag;
  aggregate: AggregateResult;
  deficits: Float64Array | null;
  options: PredictScanOptions;
  timings: PredictTimingsMs;
  logger: Logger;
}

async function runExplanations(
  explain: ExplanationName[],
  run: ExplanationRun,
): Promise<ExplanationOutputs> {
  const { model, preprocessed, timings, options } = run;
  const outputs: ExplanationOutputs = { summaries: {} };
  const timed = async <T>(name: ExplanationName, compute: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const value = await compute();
    timings.explain[name] = performance.now() - started;
    run.logger.debug(
      { explanation: name, ms: Math.round(timings.explain[name]!) },
      'explanation computed',
    );
    return value;
  };
  timings.explain.contributions = 0;

  const needsReplacements = explain.some((name) =>
    ['occlusion', 'shapley', 'deletion'].includes(name),
  );
  let context: PatchExplanationContext | undefined;
  if (needsReplacements) {
    const started = performance.now();
    const replacements = await encodeReferenceReplacements(model, preprocessed.patches, options);
    timings.referenceEncode = performance.now() - started;
    context = {
      model,
      patches: preprocessed.patches,
      inputs: run.inputs,
      embeddings: run.embeddings,
      replacements,
      zones: model.card.zones,
      signal: options.signal,
    };
  }

  if (explain.includes('occlusion') && context) {
    const { attribution, summary } = await timed('occlusion', () => explainOcclusion(context!));
    outputs.occlusion = attribution;
    outputs.summaries.occlusion = summary;
  }
  if (explain.includes('shapley') && context) {
    const { byZone, summary } = await timed('shapley', () => explainShapley(context!));
    outputs.shapley = byZone;
    outputs.summaries.shapley = summary;
  }
  if (explain.includes('deletion') && context) {
    const { order, rankedBy } = deletionOrder(
      outputs.occlusion,
      run.deficits,
      run.aggregate.contributions,
    );
    outputs.summaries.deletion = await timed('deletion', () =>
      explainDeletion(context!, order, rankedBy),
    );
  }
  if (explain.includes('sliding-window')) {
    const { attribution, summary } = await timed('sliding-window', () =>
      explainSlidingWindow({
        model,
        patches: preprocessed.patches,
        inputs: run.inputs,
        embeddings: run.embeddings,
        working: preprocessed.working.volume,
        labels: preprocessed.segmentation.labels,
        maxEvaluations:
          options.maxSlidingWindowEvaluations ?? DEFAULT_MAX_SLIDING_WINDOW_EVALUATIONS,
        batchSize: options.batchSize,
        signal: options.signal,
      }),
    );
    outputs.slidingWindowMap = attribution;
    outputs.summaries.slidingWindow = summary;
  }
  return outputs;
}

/** Ranks patches for the deletion curve, the patch that lowers the estimate most first. */
function deletionOrder(
  occlusion: Float64Array | undefined,
  deficits: Float64Array | null,
  contributions: Float32Array,
): { order: number[]; rankedBy: string } {
  if (occlusion)
    return {
      order: ascendingOrder(occlusion),
      rankedBy: 'occlusion attribution, most negative first',
    };
  if (deficits) {
    return {
      order: ascendingOrder(deficits.map((value) => -value)),
      rankedBy: 'deficit, largest first',
    };
  }
  return { order: ascendingOrder(contributions), rankedBy: 'contribution, smallest first' };
}

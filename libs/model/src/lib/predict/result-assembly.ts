import { basename } from 'node:path';

import type { PreprocessScanResult } from '@dlco/preprocess';

import { scoreBaseline, wholeLungQct } from '../baseline.ts';
import { runningPreprocessing } from '../compatibility.ts';
import {
  metadataFeatureValues,
  unknownMetadataFeatures,
  type SubjectMetadata,
} from '../metadata.ts';
import type { ModelCard } from '../model-card.ts';
import type { AggregateResult, DlcoModel } from '../model.ts';
import type { InputGridMaps } from './maps.ts';
import type { ExplanationOutputs } from './predict-scan.ts';
import type {
  ExplanationName,
  MapQuantity,
  PredictionResult,
  PredictTimingsMs,
} from './prediction-types.ts';
import type { referenceValues } from './reference-values.ts';
import {
  buildPatchResults,
  buildRegions,
  type PatchDeficits,
  type PatchValues,
} from './regions.ts';
import {
  acquisitionWarnings,
  describeTrainingCohort,
  heldOutMetrics,
} from './training-cohort.ts';

export { describeTrainingCohort };

/** Layout version of `result.json`; bump it whenever a reader would need to change. */
export const RESULT_FORMAT_VERSION = 1;

/** Intended-use sentence that starts every result, before the model card's own text. */
export const RESEARCH_USE_NOTICE = 'Research use, not diagnosis.';

/** Share of lung volume outside every patch above which the result warns. */
const DROPPED_LUNG_WARNING_FRACTION = 0.05;

/** Relative gap between the map's integral and the patch values above which the result warns. */
const MAP_SUM_WARNING_FRACTION = 0.05;

export interface ResultParts {
  /** Only its base name goes into the result, as in `bag.json`. */
  scanPath: string;
  model: DlcoModel;
  subject: SubjectMetadata;
  preprocessed: PreprocessScanResult;
  aggregate: AggregateResult;
  reference: ReturnType<typeof referenceValues>;
  deficit: PatchDeficits;
  explanations: ExplanationOutputs;
  map: InputGridMaps;
  mapQuantity: MapQuantity;
  explain: ExplanationName[];
  timings: PredictTimingsMs;
}

/** Assembles `result.json` from the parts of a prediction. */
export function assembleResult(parts: ResultParts): PredictionResult {
  const { model, preprocessed, aggregate, explanations } = parts;
  const { card } = model;
  const { patches } = preprocessed;
  const showAttention = parts.explain.includes('attention');
  const values: PatchValues = {
    contributions: aggregate.contributions,
    expected: parts.deficit.expected,
    deficits: parts.deficit.deficits,
    weights: aggregate.patchWeights,
    attentionWeights: showAttention ? aggregate.attentionWeights : null,
    occlusion: explanations.occlusion,
  };
  const wholeLung = wholeLungQct(preprocessed.qct) ?? null;
  const baseline = model.baseline
    ? {
        method:
          'ordinary least squares on whole-lung QCT and demographics (model folder baseline.json)',
        ...scoreBaseline(model.baseline, wholeLung ?? undefined, parts.subject),
      }
    : null;
  const source = preprocessed.working.source;

  return {
    resultFormatVersion: RESULT_FORMAT_VERSION,
    intendedUse: card.intendedUse.startsWith(RESEARCH_USE_NOTICE)
      ? card.intendedUse
      : `${RESEARCH_USE_NOTICE} ${card.intendedUse}`,
    dlco: {
      unit: 'ml/min/mmHg',
      estimate: aggregate.estimate,
      lower: aggregate.lower,
      upper: aggregate.upper,
      intervalCoverage: card.uncertainty.nominalCoverage,
      sigma: aggregate.sigma,
      ...parts.reference.values,
    },
    deficit: {
      definition: parts.deficit.definition,
      totalMlMinMmHg: parts.deficit.totalMlMinMmHg,
    },
    regions: buildRegions(patches, card.zones, values, explanations.shapley),
    patches: buildPatchResults(patches, card.zones, values),
    baseline,
    qct: { wholeLung, table: preprocessed.qct },
    explanations: explanations.summaries,
    model: {
      id: card.modelId,
      version: card.modelVersion,
      trainedOn: describeTrainingCohort(card.trainingCohort),
      trainingCohort: card.trainingCohort ?? null,
      heldOutMetrics: heldOutMetrics(card.metrics),
      pooling: card.aggregator.pooling,
      executionProvider: model.executionProvider,
      limitations: card.limitations ?? [],
    },
    subject: parts.subject,
    input: {
      fileName: basename(parts.scanPath),
      format: preprocessed.read.format,
      size: [...source.size],
      spacingMm: [...source.spacingMm],
    },
    preprocessing: {
      hash: runningPreprocessing().hash,
      params: { ...preprocessed.params },
      patchCount: patches.count,
      lungVolumeMl: patches.lungVolumeMl,
      droppedLungFraction: patches.droppedLungFraction,
    },
    maps: mapEntries(parts.mapQuantity, explanations.slidingWindowMap !== undefined),
    warnings: collectWarnings(parts, baseline?.missing ?? []),
    timingsMs: parts.timings,
  };
}

function mapEntries(quantity: MapQuantity, slidingWindow: boolean): PredictionResult['maps'] {
  const unit = 'ml/min/mmHg per mL of lung';
  const maps: PredictionResult['maps'] = {
    map: {
      file: 'map.nii.gz',
      quantity: quantity === 'deficit' ? 'deficit (expected - contribution)' : 'contribution',
      unit,
    },
    lungMask: {
      file: 'lung-mask.nii.gz',
      quantity: 'lung labels: 0 outside, 1 right, 2 left',
      unit: 'label',
    },
  };
  if (slidingWindow) {
    maps.slidingWindow = {
      file: 'sliding-window.nii.gz',
      quantity: 'sliding-window occlusion attribution (estimate - occluded estimate)',
      unit,
    };
  }
  return maps;
}

function collectWarnings(parts: ResultParts, baselineMissing: string[]): string[] {
  const warnings = [
    ...parts.preprocessed.warnings,
    ...parts.reference.warnings,
    ...estimateWarnings(parts),
    ...mapWarnings(parts.map),
  ];
  if (baselineMissing.length > 0) {
    warnings.push(`No baseline estimate: missing ${baselineMissing.join(', ')}.`);
  }

  const unknown = unknownMetadataFeatures(parts.model.card);
  if (unknown.length > 0) {
    warnings.push(
      `This runtime cannot fill the model's metadata feature(s) ${unknown.join(', ')}, so the ` +
        'model used their training mean. Update @dlco/model to the version the model was made for.',
    );
  }
  warnings.push(...gliFeatureWarnings(parts.model.card, parts.subject));
  warnings.push(...cohortWarnings(parts.model.card.trainingCohort, parts.subject));
  warnings.push(
    ...acquisitionWarnings(parts.model.card.trainingCohort, parts.preprocessed.working.source),
  );
  return [...new Set(warnings)];
}

/** Warns about a missing deficit, lung outside the patches, a floored interval and attention. */
function estimateWarnings(parts: ResultParts): string[] {
  const { preprocessed, aggregate, model, explain } = parts;
  const warnings: string[] = [];
  if (parts.deficit.deficits === null) {
    warnings.push(
      'Without GLI reference values there is no deficit, so map.nii.gz shows contributions.',
    );
  }
  const dropped = preprocessed.patches.droppedLungFraction;
  if (dropped > DROPPED_LUNG_WARNING_FRACTION) {
    warnings.push(
      `${(100 * dropped).toFixed(1)} % of the lung volume lies in no patch, so the estimate ` +
        'leaves it out.',
    );
  }
  if (aggregate.estimate - model.intervalZ * aggregate.sigma < 0) {
    warnings.push('The lower end of the interval was below 0 and is reported as 0.');
  }
  if (explain.includes('attention') && aggregate.attentionWeights === null) {
    warnings.push(
      `The model uses ${model.card.aggregator.pooling} pooling, so it has no attention weights; ` +
        'contributions are shown instead.',
    );
  }
  return warnings;
}

/** Warns about patches missing from the map and a map integral that drifted in resampling. */
function mapWarnings(map: InputGridMaps): string[] {
  const warnings: string[] = [];
  if (map.unplacedPatches.length > 0) {
    warnings.push(
      `${map.unplacedPatches.length} patches have no lung voxel and are not in map.nii.gz.`,
    );
  }
  const { placedSum, inputGridSum } = map;
  const tolerance = MAP_SUM_WARNING_FRACTION * Math.max(Math.abs(placedSum), 1e-9);
  if (Math.abs(inputGridSum - placedSum) > tolerance) {
    warnings.push(
      `map.nii.gz integrates to ${inputGridSum.toFixed(3)} ml/min/mmHg on the input grid, ` +
        `${placedSum.toFixed(3)} on the working grid; resampling to the input grid shifted it.`,
    );
  }
  return warnings;
}

/** Warns when the model reads the GLI predicted DLCO but the equations do not cover the subject. */
function gliFeatureWarnings(card: ModelCard, subject: SubjectMetadata): string[] {
  const feature = card.normalisation.metadata.find((entry) => entry.name === 'gli_dlco_predicted');
  if (feature === undefined || !card.normalisation.metadataUsed) return [];
  if (!Number.isNaN(metadataFeatureValues(subject).gli_dlco_predicted)) return [];
  const scaling =
    card.aggregator.pooling === 'retained_fraction'
      ? ' The estimate of retained-fraction pooling is proportional to that value.'
      : '';
  return [
    'The GLI 2017 equations do not cover this subject, so the model used the training mean of ' +
      `its gli_dlco_predicted input (${feature.mean.toFixed(2)} ml/min/mmHg) in place of the ` +
      `subject's predicted DLCO.${scaling}`,
  ];
}

/** Warns when the model was trained on no scan, or the subject's age lies outside its cohort. */
function cohortWarnings(cohort: unknown, subject: SubjectMetadata): string[] {
  const train = (
    cohort as { train?: { scans?: unknown; ageYears?: { min?: unknown; max?: unknown } } } | null
  )?.train;
  if (train === undefined) return ['The model card does not describe the training cohort.'];
  const warnings: string[] = [];
  if (train.scans === 0) {
    warnings.push(
      'The model was trained on no scan (a test fixture), so its estimate means nothing.',
    );
  }
  const { min, max } = train.ageYears ?? {};
  if (
    typeof min === 'number' &&
    typeof max === 'number' &&
    (subject.ageYears < min || subject.ageYears > max)
  ) {
    warnings.push(
      `Age ${subject.ageYears} years lies outside the training cohort's ${min} to ${max} years.`,
    );
  }
  return warnings;
}

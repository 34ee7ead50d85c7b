export * from './lib/errors.ts';
export * from './lib/model-card.ts';
export * from './lib/compatibility.ts';
export * from './lib/metadata.ts';
export * from './lib/baseline.ts';
export type * from './lib/model.ts';
export { loadModel, MODEL_CARD_FILE } from './lib/load-model.ts';
export * from './lib/predict/prediction-types.ts';
export { predictScan } from './lib/predict/predict-scan.ts';
export {
  RESULT_FORMAT_VERSION,
  RESEARCH_USE_NOTICE,
  describeTrainingCohort,
} from './lib/predict/result-assembly.ts';
export type { HeldOutMetrics, HeldOutSplitMetrics } from './lib/predict/training-cohort.ts';
export { RESULT_SCHEMA_PATH, resultSchemaErrors } from './lib/predict/result-schema.ts';
export {
  checkPredictionOutDir,
  writePrediction,
  RESULT_FILE,
  type WritePredictionOptions,
} from './lib/predict/write-prediction.ts';
export {
  bagInputs,
  createBagAggregator,
  encodeReferenceEmbedding,
  encodeReferenceReplacements,
  type BagInputs,
} from './lib/predict/bag-replacement.ts';
export { DEFICIT_DEFINITION, MODEL_DEFICIT_DEFINITION } from './lib/predict/regions.ts';
export {
  OVERLAY_FILE,
  overlayRenderOptions,
  writePredictionOverlay,
  type PredictionOverlayOptions,
} from './lib/predict/write-overlay.ts';

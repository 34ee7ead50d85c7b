export * from './lib/errors.ts';
export * from './lib/model-card.ts';
export * from './lib/compatibility.ts';
export * from './lib/metadata.ts';
export * from './lib/baseline.ts';
export type * from './lib/model.ts';
export { loadModel, MODEL_CARD_FILE } from './lib/load-model.ts';

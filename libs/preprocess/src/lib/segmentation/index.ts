export * from './segment-lungs.ts';
export * from './coverage.ts';
export type { SeparationMethod } from './lung-separation.ts';
export { segmentLungsParallel } from './parallel-segmentation.ts';

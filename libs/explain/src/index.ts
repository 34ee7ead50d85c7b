export * from './lib/errors.ts';
export type { VoxelTriple } from './lib/argument-checks.ts';
export type { VoxelBox } from './lib/window-grid.ts';
export * from './lib/sliding-window-types.ts';
export * from './lib/sliding-window-occlusion.ts';
export * from './lib/patch-occlusion-types.ts';
export * from './lib/patch-occlusion.ts';
export * from './lib/zone-shapley.ts';
export * from './lib/removal-curve.ts';

export * from './extract-patches.ts';
export * from './preprocess-steps.ts';
export * from './preprocess-scan.ts';
export * from './create-patch-bag.ts';

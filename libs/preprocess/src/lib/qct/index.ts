export * from './histogram.ts';
export * from './compute-qct.ts';

export * from './lib/agreement-metrics.ts';
export * from './lib/bootstrap.ts';
export * from './lib/classification-metrics.ts';
export * from './lib/errors.ts';
export * from './lib/join-subjects.ts';
export * from './lib/random.ts';
export * from './lib/read-labels.ts';
export * from './lib/read-predictions.ts';

export * from './lib/errors.ts';
export * from './lib/join-subjects.ts';
export * from './lib/read-labels.ts';
export * from './lib/read-predictions.ts';

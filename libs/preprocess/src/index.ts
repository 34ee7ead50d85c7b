export * from './lib/errors.ts';
export * from './lib/logger.ts';
export * from './lib/volume.ts';
export * from './lib/params.ts';
export * from './lib/bag/index.ts';
export * from './lib/io/index.ts';
export * from './lib/pipeline/index.ts';
export * from './lib/geometry/index.ts';

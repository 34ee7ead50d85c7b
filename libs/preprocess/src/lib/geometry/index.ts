export * from './grid-geometry.ts';
export * from './canonical.ts';
export * from './working-grid.ts';
export * from './inverse-mapping.ts';
export * from './parallel-working-grid.ts';

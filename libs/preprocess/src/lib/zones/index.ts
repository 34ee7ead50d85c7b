export * from './zone-codes.ts';
export * from './compute-zones.ts';

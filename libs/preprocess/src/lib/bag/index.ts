export * from './npy.ts';
export * from './patch-bag-types.ts';
export * from './patch-bag.ts';

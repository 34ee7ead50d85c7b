export {
  defaultWorkerCount,
  PREPROCESS_WORKERS_ENV,
  SlabWorkerPool,
  sharedSlabWorkerPool,
} from './slab-worker-pool.ts';

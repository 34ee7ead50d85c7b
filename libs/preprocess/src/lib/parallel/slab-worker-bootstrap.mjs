// Loads the TypeScript entry of the slab worker through tsx. A worker thread does not inherit
// the module hooks that `tsx` registers in the main thread (Node 20), so it registers its own.
// NOTE: only Node 20 was tested. Where workers inherit the main thread's hooks, tsx would be
// registered twice here.
import { register } from 'tsx/esm/api';

register();
await import('./slab-worker.ts');

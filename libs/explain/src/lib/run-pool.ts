import { requireInteger } from './argument-checks.ts';

/**
 * Runs `task(0)` … `task(count - 1)` with at most `concurrency` tasks in flight and resolves
 * when all are done. Tasks start in index order. The first rejection rejects the whole run, and
 * no new task starts after it, but tasks already in flight still finish.
 */
export async function runPool(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
): Promise<void> {
  requireInteger('options.concurrency', concurrency, 1, 'Pass 1 to evaluate one call at a time.');
  let next = 0;
  let failed = false;

  const worker = async (): Promise<void> => {
    while (!failed && next < count) {
      const index = next++;
      try {
        await task(index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };

  const workers = Array.from({ length: Math.min(concurrency, count) }, () => worker());
  await Promise.all(workers);
}

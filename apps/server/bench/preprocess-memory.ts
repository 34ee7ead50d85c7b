/**
 * Runs `preprocessScan` on the demo scan repeatedly in this process, without HTTP, and prints
 * RSS, V8 heap and array buffer sizes after a full garbage collection every 5 runs, to find
 * out whether memory growth seen by `load-bench.ts` comes from preprocessing. Compare the default
 * with `DLCO_PREPROCESS_WORKERS=0`, which keeps preprocessing off the worker pool.
 *
 *   node --expose-gc --import tsx apps/server/bench/preprocess-memory.ts [runs]
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { preprocessScan } from '@dlco/preprocess';

const DEMO_SCAN = join(dirname(fileURLToPath(import.meta.url)), '../../../demo/scan.nii.gz');
const runs = Number(process.argv[2] ?? 30);
const collect = (globalThis as { gc?: () => void }).gc;
if (collect === undefined) throw new Error('run with node --expose-gc');

const mib = (bytes: number) => (bytes / 1024 ** 2).toFixed(0);
const workers = process.env.DLCO_PREPROCESS_WORKERS ?? 'default';
process.stdout.write(`DLCO_PREPROCESS_WORKERS=${workers}, ${runs} runs on ${DEMO_SCAN}\n`);
for (let run = 1; run <= runs; run++) {
  await preprocessScan(DEMO_SCAN);
  collect();
  if (run % 5 !== 0) continue;
  const memory = process.memoryUsage();
  const status = readFileSync('/proc/self/status', 'utf8');
  const rss = Number(/^VmRSS:\s+(\d+)\s+kB$/m.exec(status)![1]) * 1024;
  process.stdout.write(
    `run ${run}: RSS ${mib(rss)} MiB, V8 heap used ${mib(memory.heapUsed)} MiB, ` +
      `array buffers ${mib(memory.arrayBuffers)} MiB\n`,
  );
}

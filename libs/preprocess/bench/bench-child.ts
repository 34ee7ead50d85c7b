/**
 * One measurement of the preprocessing benchmark, run in its own process so that its peak RSS
 * is not mixed with phantom generation or with the other measurement.
 *
 * Usage: node --import tsx bench-child.ts itk-read|read|pipeline FILE
 * `itk-read` only decodes the file with ITK-wasm, `read` runs `readScan` (decoding plus header
 * and HU validation) and `pipeline` runs `preprocessScan`. Prints one JSON line on stdout: wall
 * time, CPU time of all threads and CPU time of the main thread of the call in ms, and peak RSS
 * in bytes. The pipeline uses `DLCO_PREPROCESS_WORKERS` worker threads when it is set.
 */
import { readFileSync } from 'node:fs';

import { readImageNode } from '@itk-wasm/image-io';

import { preprocessScan, readScan } from '../src/index.ts';

/**
 * Returns the CPU time (user plus system) of the main thread in ms from
 * /proc/self/task/PID/stat, or undefined off Linux. Assumes 100 clock ticks per second, the
 * Linux default, so the resolution is 10 ms.
 */
function mainThreadCpuMs(): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    // Fields after the command name, which is in brackets: utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

/** Returns VmHWM (peak resident set) from /proc/self/status in bytes, or undefined off Linux. */
function vmHwmBytes(): number | undefined {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    return match === null ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

async function measure(mode: string, file: string): Promise<Record<string, unknown>> {
  const started = performance.now();
  if (mode === 'itk-read') {
    const image = await readImageNode(file);
    return { mode, ms: performance.now() - started, size: image.size };
  }
  if (mode === 'read') {
    const { volume } = await readScan(file);
    return { mode, ms: performance.now() - started, size: volume.size };
  }
  if (mode === 'pipeline') {
    const result = await preprocessScan(file);
    return {
      mode,
      ms: performance.now() - started,
      timingsMs: result.timings,
      workingSize: result.working.volume.size,
      lungVolumeMl: result.patches.lungVolumeMl,
      patchCount: result.patches.count,
      droppedLungFraction: result.patches.droppedLungFraction,
      coverageComplete: result.coverage.complete,
    };
  }
  throw new Error(`unknown mode '${mode}': expected itk-read, read or pipeline`);
}

const [mode, file] = process.argv.slice(2);
if (mode === undefined || file === undefined) {
  throw new Error('usage: bench-child.ts itk-read|read|pipeline FILE');
}
const cpuStarted = process.cpuUsage();
const mainThreadStarted = mainThreadCpuMs();
const report = await measure(mode, file);
const mainThreadEnded = mainThreadCpuMs();
// CPU time of the call (user plus system, all threads of the process), less sensitive than the
// wall time to other processes on a shared machine.
const cpuUsed = process.cpuUsage(cpuStarted);
const cpuMs = (cpuUsed.user + cpuUsed.system) / 1000;
// resourceUsage().maxRSS is in KiB.
const maxRssBytes = process.resourceUsage().maxRSS * 1024;
// CPU time of the main thread alone. Worker threads add CPU time but run beside it, so on idle
// CPUs the wall time is close to this, not to cpuMs.
const mainThreadMs =
  mainThreadStarted === undefined || mainThreadEnded === undefined
    ? undefined
    : mainThreadEnded - mainThreadStarted;
const line = {
  ...report,
  cpuMs,
  mainThreadCpuMs: mainThreadMs,
  maxRssBytes,
  vmHwmBytes: vmHwmBytes(),
};
process.stdout.write(`${JSON.stringify(line)}\n`);

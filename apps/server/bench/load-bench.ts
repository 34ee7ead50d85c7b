/**
 * Load benchmark of the HTTP service on loopback.
 *
 * Starts the service in a child process (`serve-child.ts`, the same `startServer` as
 * `dlco serve`) with the demo model, then lets `--clients` concurrent clients submit
 * `demo/scan.nii.gz` with the metadata of `demo/subject.json`, `--warmup` requests first and
 * `--requests` measured ones after. A client polls each accepted job until it is done or
 * failed. A 503 `QUEUE_FULL` is counted and the client waits `--backoff-ms` before its next
 * request, so the queue limit turns most requests into fast 503s while the worker completes
 * real predictions.
 *
 * Prints throughput, p50 and p95 latencies (submit only, and submit to done), and the error
 * and 503 counts. It also prints the HTTP process's RSS (VmRSS of the child in /proc) after the
 * warm-up and after the measured requests, with the growth against the target of less than
 * 10 %, once as read and once after a full garbage collection in the server. The job runner
 * processes that the server forks are measured apart: their summed VmRSS at the same points,
 * and how many distinct runner processes were seen.
 *
 *   npm run bench:serve -- --requests 500 --clients 8 --warmup 20
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FORM_FIELD_LABELS } from '../src/lib/metadata.ts';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const DEMO_SCAN = join(REPO, 'demo/scan.nii.gz');
const DEMO_SUBJECT = join(REPO, 'demo/subject.json');
const DEMO_MODEL = join(REPO, 'models/demo');
const API_KEY = 'bench-key-0123456789';
/** Target of the RSS growth over the measured requests, after the warm-up. */
const MAX_RSS_GROWTH = 0.1;

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '500' },
    clients: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '20' },
    'queue-depth': { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '1' },
    'backoff-ms': { type: 'string', default: '1000' },
    'max-seconds': { type: 'string', default: '1800' },
    /** Jobs per runner process; the server's default (50) when not given. */
    'runner-max-jobs': { type: 'string' },
    model: { type: 'string', default: DEMO_MODEL },
  },
});

function positiveInteger(name: keyof typeof args, min = 1): number {
  const value = Number(args[name]);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`invalid --${name} '${args[name]}': expected an integer of at least ${min}`);
  }
  return value;
}

const settings = {
  requests: positiveInteger('requests'),
  clients: positiveInteger('clients'),
  warmup: positiveInteger('warmup', 0),
  maxQueueDepth: positiveInteger('queue-depth', 0),
  concurrency: positiveInteger('concurrency'),
  backoffMs: positiveInteger('backoff-ms', 0),
  maxSeconds: positiveInteger('max-seconds'),
  runnerMaxJobs:
    args['runner-max-jobs'] === undefined ? undefined : positiveInteger('runner-max-jobs'),
};

/** Outcome of one submitted request. */
interface RequestRecord {
  status: number;
  submitMs: number;
  /** Submit to done or failed, for accepted jobs. */
  doneMs?: number;
  jobState?: string;
  error?: string;
}

/** Form fields of the demo subject, named as the service expects them. */
function subjectFields(): Record<string, string> {
  const { subject } = JSON.parse(readFileSync(DEMO_SUBJECT, 'utf8')) as {
    subject: Record<string, string | number>;
  };
  const names: Record<string, string> = FORM_FIELD_LABELS;
  const fields: Record<string, string> = {};
  for (const [key, value] of Object.entries(subject)) {
    if (names[key] !== undefined) fields[names[key]] = String(value);
  }
  return fields;
}

/** VmRSS of a process in bytes, from /proc/<pid>/status. */
function residentBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (match === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** Process ids of the server's job runners: its child processes that run the runner entry. */
function runnerPidsOf(pid: number): number[] {
  const pids: number[] = [];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const text = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
    if (text !== '') pids.push(...text.split(/\s+/).map(Number));
  }
  return pids.filter((child) => {
    try {
      return readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('job-runner-bootstrap');
    } catch {
      return false;
    }
  });
}

/** Summed VmRSS of the server's job runners; a runner that exits meanwhile counts 0. */
function runnerResidentBytes(serverPid: number, seen: Set<number>): number {
  let total = 0;
  for (const pid of runnerPidsOf(serverPid)) {
    seen.add(pid);
    try {
      total += residentBytes(pid);
    } catch {
      // The runner was replaced between the listing and the read.
    }
  }
  return total;
}

async function startChild(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const options = {
    dataDir,
    modelDir: args.model,
    apiKey: API_KEY,
    maxQueueDepth: settings.maxQueueDepth,
    concurrency: settings.concurrency,
    runnerMaxJobs: settings.runnerMaxJobs,
  };
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      '--import',
      'tsx',
      join(REPO, 'apps/server/bench/serve-child.ts'),
      JSON.stringify(options),
    ],
    { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] },
  );
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server exited with ${code} before listening`)));
    lines.on('line', (line) => {
      if (line.startsWith('LISTENING ')) resolve(line.slice('LISTENING '.length));
    });
  });
  return { child, url };
}

/** Memory of the server process after a full garbage collection in it. */
interface MemorySample {
  /** VmRSS in bytes, read after the collection. */
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/** Asks the child for `process.memoryUsage()` after a full garbage collection. */
function sampleMemory(child: ChildProcess): Promise<MemorySample> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no memory reply within 60 s')), 60_000);
    child.once('message', (message) => {
      clearTimeout(timer);
      const { memory } = message as { memory: NodeJS.MemoryUsage };
      resolve({
        rss: residentBytes(child.pid!),
        heapUsed: memory.heapUsed,
        external: memory.external,
        arrayBuffers: memory.arrayBuffers,
      });
    });
    child.send('memory');
  });
}

class LoadClient {
  readonly #url: string;
  readonly #scan: Blob;
  readonly #fields: Record<string, string>;

  constructor(url: string, scan: Blob, fields: Record<string, string>) {
    this.#url = url;
    this.#scan = scan;
    this.#fields = fields;
  }

  /** Submits one scan, and polls the job to its end when it is accepted. */
  async submit(): Promise<RequestRecord> {
    const form = new FormData();
    for (const [name, value] of Object.entries(this.#fields)) form.append(name, value);
    form.append('scan', this.#scan, 'scan.nii.gz');
    const started = performance.now();
    let response: Response;
    try {
      response = await fetch(`${this.#url}/v1/predictions`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${API_KEY}` },
        body: form,
      });
    } catch (error) {
      return { status: 0, submitMs: performance.now() - started, error: String(error) };
    }
    const body = (await response.json()) as { id?: string; error?: { code: string } };
    const record: RequestRecord = {
      status: response.status,
      submitMs: performance.now() - started,
    };
    if (response.status !== 202) {
      if (response.status !== 503) record.error = body.error?.code ?? `HTTP ${response.status}`;
      return record;
    }
    for (;;) {
      await sleep(100);
      const poll = await fetch(`${this.#url}/v1/predictions/${body.id}`, {
        headers: { Authorization: `Bearer ${API_KEY}` },
      });
      const job = (await poll.json()) as { state: string; error?: { code: string } };
      if (job.state === 'done' || job.state === 'failed') {
        record.doneMs = performance.now() - started;
        record.jobState = job.state;
        if (job.state === 'failed') record.error = job.error?.code ?? 'failed';
        return record;
      }
    }
  }
}

/**
 * Runs `count` requests over `settings.clients` clients and stops issuing new ones at
 * `deadline`. Reads the server's RSS every 100 requests.
 */
async function runPhase(
  client: LoadClient,
  count: number,
  deadline: number,
  pid: number,
  runnerPids: Set<number>,
) {
  const records: RequestRecord[] = [];
  const rssByRequests: [number, number, number][] = [];
  let issued = 0;
  const started = performance.now();
  const worker = async () => {
    while (issued < count && Date.now() < deadline) {
      issued++;
      const record = await client.submit();
      records.push(record);
      if (records.length % 100 === 0) {
        const runnerRss = runnerResidentBytes(pid, runnerPids);
        rssByRequests.push([records.length, residentBytes(pid), runnerRss]);
      }
      if (record.status === 503) await sleep(settings.backoffMs);
    }
  };
  await Promise.all(Array.from({ length: settings.clients }, worker));
  return { records, rssByRequests, seconds: (performance.now() - started) / 1000 };
}

function percentile(values: number[], fraction: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const mib = (bytes: number) => (bytes / 1024 ** 2).toFixed(1);
const ms = (value: number) => (Number.isNaN(value) ? 'n/a' : `${value.toFixed(0)} ms`);

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'dlco-load-bench-'));
  const { child, url } = await startChild(dataDir);
  const deadline = Date.now() + settings.maxSeconds * 1000;
  const loadStart = loadavg()[0];
  try {
    const client = new LoadClient(url, new Blob([readFileSync(DEMO_SCAN)]), subjectFields());
    const runnerPids = new Set<number>();
    const rssStart = residentBytes(child.pid!);
    const warmup = await runPhase(client, settings.warmup, deadline, child.pid!, runnerPids);
    const rssBefore = residentBytes(child.pid!);
    const runnerRssBefore = runnerResidentBytes(child.pid!, runnerPids);
    const memoryBefore = await sampleMemory(child);
    const runnersBefore = runnerPids.size;
    const measured = await runPhase(client, settings.requests, deadline, child.pid!, runnerPids);
    const rssAfter = residentBytes(child.pid!);
    const runnerRssAfter = runnerResidentBytes(child.pid!, runnerPids);
    const memoryAfter = await sampleMemory(child);
    report({ warmup, measured, rssStart, rssBefore, rssAfter, loadStart });
    reportMemory(memoryBefore, memoryAfter, measured.rssByRequests);
    process.stdout.write(
      `job runners (summed VmRSS): ${mib(runnerRssBefore)} MiB after warm-up, ` +
        `${mib(runnerRssAfter)} MiB after the measured requests; ` +
        `${runnersBefore} runner processes seen by the end of the warm-up, ` +
        `${runnerPids.size} by the end (samples miss a runner that lived between two of them)\n`,
    );
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function report(run: {
  warmup: Awaited<ReturnType<typeof runPhase>>;
  measured: Awaited<ReturnType<typeof runPhase>>;
  rssStart: number;
  rssBefore: number;
  rssAfter: number;
  loadStart: number;
}): void {
  const { records, seconds } = run.measured;
  const accepted = records.filter((record) => record.status === 202);
  const done = accepted.filter((record) => record.jobState === 'done');
  const rejected = records.filter((record) => record.status === 503);
  const errors = records.filter((record) => record.error !== undefined);
  const growth = (run.rssAfter - run.rssBefore) / run.rssBefore;
  const lines = [
    `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}`,
    `load average (1 min): ${run.loadStart.toFixed(2)} at start, ${loadavg()[0].toFixed(2)} at end`,
    `settings: ${JSON.stringify(settings)}`,
    `warm-up: ${run.warmup.records.length} requests in ${run.warmup.seconds.toFixed(1)} s`,
    `measured: ${records.length} requests in ${seconds.toFixed(1)} s ` +
      `(${(records.length / seconds).toFixed(2)} requests/s, ` +
      `${(done.length / seconds).toFixed(3)} completed predictions/s)`,
    `mix: ${accepted.length} accepted (${done.length} done), ${rejected.length} answered 503`,
    `errors: ${errors.length} ${JSON.stringify([...new Set(errors.map((e) => e.error))])}`,
    `submit latency, all requests: p50 ${ms(percentile(records.map((r) => r.submitMs), 0.5))}, ` +
      `p95 ${ms(percentile(records.map((r) => r.submitMs), 0.95))}`,
    `submit latency, accepted: p50 ${ms(percentile(accepted.map((r) => r.submitMs), 0.5))}, ` +
      `p95 ${ms(percentile(accepted.map((r) => r.submitMs), 0.95))}`,
    `submit latency, 503: p50 ${ms(percentile(rejected.map((r) => r.submitMs), 0.5))}, ` +
      `p95 ${ms(percentile(rejected.map((r) => r.submitMs), 0.95))}`,
    `submit to done: p50 ${ms(percentile(done.map((r) => r.doneMs!), 0.5))}, ` +
      `p95 ${ms(percentile(done.map((r) => r.doneMs!), 0.95))}`,
    `HTTP process RSS: ${mib(run.rssStart)} MiB at start, ${mib(run.rssBefore)} MiB after warm-up, ` +
      `${mib(run.rssAfter)} MiB after the measured requests`,
    `RSS growth after warm-up: ${(100 * growth).toFixed(1)} % ` +
      `(target < ${100 * MAX_RSS_GROWTH} %: ${growth < MAX_RSS_GROWTH ? 'met' : 'not met'})`,
  ];
  if (records.length < settings.requests) {
    lines.push(`stopped at --max-seconds after ${records.length} of ${settings.requests} requests`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

function reportMemory(
  before: MemorySample,
  after: MemorySample,
  rssByRequests: [number, number, number][],
): void {
  const row = (label: string, sample: MemorySample) =>
    `${label}: RSS ${mib(sample.rss)} MiB, V8 heap used ${mib(sample.heapUsed)} MiB, ` +
    `external ${mib(sample.external)} MiB (array buffers ${mib(sample.arrayBuffers)} MiB)`;
  const growth = (after.rss - before.rss) / before.rss;
  const series = rssByRequests
    .map(([count, rss, runnerRss]) => `${count}: ${mib(rss)} / ${mib(runnerRss)}`)
    .join(', ');
  const lines = [
    'HTTP process, after a full garbage collection in it:',
    `  ${row('after warm-up', before)}`,
    `  ${row('after the measured requests', after)}`,
    `  RSS growth: ${(100 * growth).toFixed(1)} % ` +
      `(target < ${100 * MAX_RSS_GROWTH} %: ${growth < MAX_RSS_GROWTH ? 'met' : 'not met'})`,
    `RSS every 100 measured requests (requests: HTTP process / job runners, MiB): ${series}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();

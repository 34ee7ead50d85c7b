import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { startServer, type RunningServer } from './index.ts';
import type { ServerLimits } from './lib/app.ts';
import { JobStore } from './lib/job-store.ts';
import { capturingLogger } from './testing/http-helpers.ts';
import { niftiInt16 } from './testing/scan-fixtures.ts';

const SERVER_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const REAL_DATA = join(SERVER_ROOT, '../../../shared/data/real');
const CT64_NRRD = join(REAL_DATA, 'cip-ct64/ct-64.nrrd');
const TINY_MODEL = join(SERVER_ROOT, '../../libs/model/testdata/tiny-model');

const API_KEY = 'runner-test-key-0123456789';
const SUBJECT = { age: '63', sex: 'M', height: '175', weight: '80' };

const workDir = mkdtempSync(join(tmpdir(), 'dlco-runner-'));

afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

async function startTestServer(name: string, limits: Partial<ServerLimits> = {}) {
  const capture = capturingLogger();
  const server = await startServer({
    host: '127.0.0.1',
    port: 0,
    dataDir: join(workDir, name),
    modelDir: TINY_MODEL,
    apiKeys: [API_KEY],
    logger: capture.logger,
    explain: ['contributions'],
    limits,
  });
  await server.ready;
  return { server, lines: capture.lines };
}

function authorized(init: RequestInit = {}): RequestInit {
  return { ...init, headers: { Authorization: `Bearer ${API_KEY}`, ...init.headers } };
}

async function postScan(server: RunningServer): Promise<string> {
  const body = new FormData();
  for (const [name, value] of Object.entries(SUBJECT)) body.append(name, value);
  body.append('scan', new Blob([readFileSync(CT64_NRRD)]), 'ct-64.nrrd');
  const init = authorized({ method: 'POST', body });
  const response = await fetch(`${server.url}/v1/predictions`, init);
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

async function getJob(server: RunningServer, id: string): Promise<Record<string, any>> {
  const response = await fetch(`${server.url}/v1/predictions/${id}`, authorized());
  return (await response.json()) as Record<string, any>;
}

/** Polls a job every `intervalMs` until `accept` returns true, for at most 120 s. */
async function pollJob(
  server: RunningServer,
  id: string,
  accept: (job: Record<string, any>) => boolean,
  intervalMs = 200,
): Promise<Record<string, any>> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const job = await getJob(server, id);
    if (accept(job)) return job;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`job ${id} did not reach the expected state within 120 s`);
}

const isFinished = (job: Record<string, any>) => job.state === 'done' || job.state === 'failed';

function logRecords(lines: string[], message: string): Record<string, any>[] {
  const records = lines.map((line) => JSON.parse(line) as Record<string, any>);
  return records.filter((record) => record.msg === message);
}

describe('job runner crash', () => {
  it('fails the running job and runs the next one', async () => {
    const { server, lines } = await startTestServer('crash');
    try {
      const [runnerPid] = server.runnerPids();
      expect(runnerPid).toBeGreaterThan(0);
      const id = await postScan(server);
      const running = await pollJob(server, id, (job) => job.state !== 'queued', 10);
      expect(running.state).toBe('running');
      process.kill(runnerPid!, 'SIGKILL');

      const failed = await pollJob(server, id, isFinished);
      expect(failed.state).toBe('failed');
      expect(failed.errorStatus).toBe(500);
      expect(failed.error.code).toBe('JOB_RUNNER_EXITED');
      expect(failed.error.message).toContain('SIGKILL');
      const exits = logRecords(lines, 'Job runner exited during a prediction');
      expect(exits).toHaveLength(1);
      expect(exits[0]!.jobId).toBe(id);

      const next = await postScan(server);
      const done = await pollJob(server, next, isFinished);
      expect(done.state, JSON.stringify(done.error)).toBe('done');
      expect(server.runnerPids()).not.toContain(runnerPid);
      const ready = await fetch(`${server.url}/readyz`);
      expect(ready.status).toBe(200);
    } finally {
      await server.close();
    }
  }, 240_000);
});

describe('job runner replacement', () => {
  it('replaces the runner after runnerMaxJobs jobs', async () => {
    const { server, lines } = await startTestServer('max-jobs', { runnerMaxJobs: 1 });
    try {
      const pids = new Set(server.runnerPids());
      for (let n = 0; n < 2; n++) {
        const job = await pollJob(server, await postScan(server), isFinished);
        expect(job.state, JSON.stringify(job.error)).toBe('done');
        for (const pid of server.runnerPids()) pids.add(pid);
      }
      const replaced = logRecords(lines, 'Replacing the job runner');
      expect(replaced.map((record) => record.reason)).toEqual(['jobs', 'jobs']);
      expect(replaced.map((record) => record.jobsRun)).toEqual([1, 1]);
      expect(pids.size).toBeGreaterThanOrEqual(2);
    } finally {
      await server.close();
    }
  }, 240_000);

  it('replaces the runner when its RSS passes the limit', async () => {
    const { server, lines } = await startTestServer('max-rss', { runnerMaxRssBytes: 1024 });
    try {
      const first = server.runnerPids()[0];
      const job = await pollJob(server, await postScan(server), isFinished);
      expect(job.state, JSON.stringify(job.error)).toBe('done');
      const replaced = logRecords(lines, 'Replacing the job runner');
      expect(replaced).toHaveLength(1);
      expect(replaced[0]!.reason).toBe('rss');
      expect(replaced[0]!.runnerPid).toBe(first);
      expect(replaced[0]!.rssBytes).toBeGreaterThan(1024);
      await pollJob(server, job.id, () => server.runnerPids().some((pid) => pid !== first));
      const ready = await fetch(`${server.url}/readyz`);
      expect(ready.status).toBe(200);
    } finally {
      await server.close();
    }
  }, 240_000);

  it('defaults to 50 jobs and 2 GiB', async () => {
    const { DEFAULT_LIMITS } = await import('./lib/app.ts');
    expect(DEFAULT_LIMITS.runnerMaxJobs).toBe(50);
    expect(DEFAULT_LIMITS.runnerMaxRssBytes).toBe(2 * 1024 ** 3);
  });
});

describe('job runner logs', () => {
  it('forwards runner logs with the job id', async () => {
    const { server, lines } = await startTestServer('logs');
    try {
      const body = new FormData();
      for (const [name, value] of Object.entries(SUBJECT)) body.append(name, value);
      // A 30 mm spacing passes the upload checks, and reading it in the runner fails.
      const data = new Int16Array(8 * 8 * 8).fill(-1000);
      const coarse = niftiInt16({ dims: [8, 8, 8], spacingMm: [30, 30, 30], data });
      body.append('scan', new Blob([new Uint8Array(coarse)]), 'ct.nii');
      const init = authorized({ method: 'POST', body });
      const response = await fetch(`${server.url}/v1/predictions`, init);
      expect(response.status).toBe(202);
      const id = ((await response.json()) as { id: string }).id;
      const job = await pollJob(server, id, isFinished);
      expect(job.state).toBe('failed');
      expect(job.errorStatus).toBe(422);
      expect(job.error.code).toBe('INPUT_SPACING_INVALID');
      const rejected = logRecords(lines, 'Prediction rejected the scan');
      expect(rejected).toHaveLength(1);
      expect(rejected[0]!.jobId).toBe(id);
      expect(rejected[0]!.code).toBe(job.error.code);
      expect(server.runnerPids()).toContain(rejected[0]!.runnerPid);
    } finally {
      await server.close();
    }
  }, 240_000);
});

describe('stop during a job', () => {
  it('re-queues the job for the next start', async () => {
    const first = await startTestServer('stop');
    const [runnerPid] = first.server.runnerPids();
    const id = await postScan(first.server);
    await pollJob(first.server, id, (job) => job.state !== 'queued', 10);
    await first.server.close();
    expect(() => process.kill(runnerPid!, 0)).toThrow();

    const store = new JobStore(join(workDir, 'stop'));
    const stopped = store.get(id);
    store.close();
    expect(stopped?.state).toBe('running');

    const second = await startTestServer('stop');
    try {
      const job = await pollJob(second.server, id, isFinished);
      expect(job.state, JSON.stringify(job.error)).toBe('done');
    } finally {
      await second.server.close();
    }
  }, 240_000);
});

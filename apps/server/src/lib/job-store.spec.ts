import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { JobStore } from './job-store.ts';

const SUBJECT = { ageYears: 63, sex: 'M' as const, heightCm: 175, weightKg: 80 };
const dirs: string[] = [];

function openStore(dir?: string): { store: JobStore; dir: string } {
  const dataDir = dir ?? mkdtempSync(join(tmpdir(), 'dlco-job-store-'));
  if (dir === undefined) dirs.push(dataDir);
  return { store: new JobStore(dataDir), dir: dataDir };
}

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('JobStore', () => {
  it('keeps jobs across reopening', () => {
    const { store, dir } = openStore();
    store.insert({ id: 'a', scanPath: '/scan.nrrd', subject: SUBJECT });
    store.markRunning('a');
    store.markDone('a');
    store.close();

    const reopened = openStore(dir).store;
    const job = reopened.get('a');
    expect(job?.state).toBe('done');
    expect(job?.subject).toEqual(SUBJECT);
    expect(job?.attempts).toBe(1);
    expect(reopened.countByState()).toEqual({ queued: 0, running: 0, done: 1, failed: 0 });
    reopened.close();
  });

  it('queues an interrupted job again', () => {
    const { store } = openStore();
    store.insert({ id: 'a', scanPath: '/scan.nrrd', subject: SUBJECT });
    store.markRunning('a');

    expect(store.recoverInterrupted(2)).toEqual({ requeued: ['a'], failed: [] });
    expect(store.get('a')?.state).toBe('queued');
    expect(store.queuedIds()).toEqual(['a']);
    store.close();
  });

  it('fails a job interrupted too often', () => {
    const { store } = openStore();
    store.insert({ id: 'a', scanPath: '/scan.nrrd', subject: SUBJECT });
    store.markRunning('a');
    store.recoverInterrupted(2);
    store.markRunning('a');

    expect(store.recoverInterrupted(2)).toEqual({ requeued: [], failed: ['a'] });
    const job = store.get('a');
    expect(job?.state).toBe('failed');
    expect(job?.failure?.code).toBe('JOB_INTERRUPTED');
    store.close();
  });
});

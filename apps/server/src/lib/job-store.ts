import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import Database from 'better-sqlite3';
import type { SubjectMetadata } from '@dlco/model';

import type { JobFailure } from './errors.ts';

export const JOB_STATES = ['queued', 'running', 'done', 'failed'] as const;
export type JobState = (typeof JOB_STATES)[number];

/** One prediction job as stored in SQLite. */
export interface Job {
  id: string;
  state: JobState;
  /** Scan path passed to `predictScan`: a stored file or a folder of DICOM files. */
  scanPath: string;
  subject: SubjectMetadata;
  /** ISO 8601 times. */
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Times the job was started; a job interrupted by a restart is started again. */
  attempts: number;
  failure: JobFailure | null;
  /**
   * `apiKeyId` of the key that created the job. Null for jobs stored before owners were
   * recorded; any valid key may read those.
   */
  ownerKeyId: string | null;
}

interface JobRow {
  id: string;
  state: JobState;
  scan_path: string;
  subject_json: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  attempts: number;
  failure_json: string | null;
  owner_key_id: string | null;
}

/** Jobs in `<dataDir>/jobs.sqlite`; result and upload files live in `jobDir(id)`. */
export class JobStore {
  readonly #db: Database.Database;
  readonly #dataDir: string;

  constructor(dataDir: string) {
    mkdirSync(join(dataDir, 'jobs'), { recursive: true });
    this.#dataDir = dataDir;
    this.#db = new Database(join(dataDir, 'jobs.sqlite'));
    this.#db.pragma('journal_mode = WAL');
    this.#db.exec(`CREATE TABLE IF NOT EXISTS jobs (
      id TEXT PRIMARY KEY,
      state TEXT NOT NULL,
      scan_path TEXT NOT NULL,
      subject_json TEXT NOT NULL,
      created_at TEXT NOT NULL,
      started_at TEXT,
      finished_at TEXT,
      attempts INTEGER NOT NULL DEFAULT 0,
      failure_json TEXT,
      owner_key_id TEXT
    )`);
    // Databases created before jobs had owners get the column, with NULL in the old rows.
    const columns = this.#db.prepare('PRAGMA table_info(jobs)').all() as { name: string }[];
    if (!columns.some((column) => column.name === 'owner_key_id')) {
      this.#db.exec('ALTER TABLE jobs ADD COLUMN owner_key_id TEXT');
    }
  }

  /** Folder of one job: `upload/` contains the scan and `result/` the prediction files. */
  jobDir(id: string): string {
    return join(this.#dataDir, 'jobs', id);
  }

  insert(job: Pick<Job, 'id' | 'scanPath' | 'subject'> & { ownerKeyId?: string | null }): void {
    this.#db
      .prepare(
        `INSERT INTO jobs (id, state, scan_path, subject_json, created_at, owner_key_id)
         VALUES (?, 'queued', ?, ?, ?, ?)`,
      )
      .run(
        job.id,
        job.scanPath,
        JSON.stringify(job.subject),
        new Date().toISOString(),
        job.ownerKeyId ?? null,
      );
  }

  get(id: string): Job | undefined {
    const row = this.#db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
    return row === undefined ? undefined : toJob(row);
  }

  /** Queued job ids, oldest first. */
  queuedIds(): string[] {
    const rows = this.#db
      .prepare("SELECT id FROM jobs WHERE state = 'queued' ORDER BY created_at, rowid")
      .all() as { id: string }[];
    return rows.map((row) => row.id);
  }

  markRunning(id: string): void {
    this.#db
      .prepare(
        "UPDATE jobs SET state = 'running', started_at = ?, attempts = attempts + 1 WHERE id = ?",
      )
      .run(new Date().toISOString(), id);
  }

  markDone(id: string): void {
    this.#db
      .prepare("UPDATE jobs SET state = 'done', finished_at = ? WHERE id = ?")
      .run(new Date().toISOString(), id);
  }

  markFailed(id: string, failure: JobFailure): void {
    this.#db
      .prepare("UPDATE jobs SET state = 'failed', finished_at = ?, failure_json = ? WHERE id = ?")
      .run(new Date().toISOString(), JSON.stringify(failure), id);
  }

  /**
   * Handles jobs left `running` by a stopped server: each is queued again unless it has been
   * started `maxAttempts` times, in which case it fails with `JOB_INTERRUPTED`.
   *
   * @returns the ids queued again and the ids marked failed
   */
  recoverInterrupted(maxAttempts: number): { requeued: string[]; failed: string[] } {
    const rows = this.#db
      .prepare("SELECT id, attempts FROM jobs WHERE state = 'running'")
      .all() as { id: string; attempts: number }[];
    const requeued: string[] = [];
    const failed: string[] = [];
    for (const row of rows) {
      if (row.attempts < maxAttempts) {
        this.#db.prepare("UPDATE jobs SET state = 'queued' WHERE id = ?").run(row.id);
        requeued.push(row.id);
      } else {
        this.markFailed(row.id, {
          status: 500,
          code: 'JOB_INTERRUPTED',
          message:
            `The server stopped while this job ran, ${row.attempts} times, so it is not ` +
            'started again. Upload the scan again.',
        });
        failed.push(row.id);
      }
    }
    return { requeued, failed };
  }

  delete(id: string): void {
    this.#db.prepare('DELETE FROM jobs WHERE id = ?').run(id);
  }

  countByState(): Record<JobState, number> {
    const counts = { queued: 0, running: 0, done: 0, failed: 0 };
    const rows = this.#db
      .prepare('SELECT state, COUNT(*) AS n FROM jobs GROUP BY state')
      .all() as { state: JobState; n: number }[];
    for (const row of rows) counts[row.state] = row.n;
    return counts;
  }

  close(): void {
    this.#db.close();
  }
}

function toJob(row: JobRow): Job {
  return {
    id: row.id,
    state: row.state,
    scanPath: row.scan_path,
    subject: JSON.parse(row.subject_json) as SubjectMetadata,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    attempts: row.attempts,
    failure: row.failure_json === null ? null : (JSON.parse(row.failure_json) as JobFailure),
    ownerKeyId: row.owner_key_id ?? null,
  };
}

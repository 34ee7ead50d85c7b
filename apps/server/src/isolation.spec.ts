import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startServer, type RunningServer } from './index.ts';
import { capturingLogger } from './testing/http-helpers.ts';
import { niftiInt16 } from './testing/scan-fixtures.ts';

const SERVER_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const REAL_DATA = join(SERVER_ROOT, '../../../shared/data/real');
const CT64_NRRD = join(REAL_DATA, 'cip-ct64/ct-64.nrrd');
const TINY_MODEL = join(SERVER_ROOT, '../../libs/model/testdata/tiny-model');

const OWNER_KEY = 'isolation-owner-key-0001';
const OTHER_KEY = 'isolation-other-key-0002';
const SUBJECT = { age: '63', sex: 'M', height: '175', weight: '80' };

const workDir = mkdtempSync(join(tmpdir(), 'dlco-isolation-'));

afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

function startTestServer(dataDir: string) {
  return startServer({
    host: '127.0.0.1',
    port: 0,
    dataDir,
    modelDir: TINY_MODEL,
    apiKeys: [OWNER_KEY, OTHER_KEY],
    logger: capturingLogger().logger,
    explain: ['contributions'],
  });
}

function withKey(key: string, init: RequestInit = {}): RequestInit {
  return { ...init, headers: { Authorization: `Bearer ${key}`, ...init.headers } };
}

describe('data dir lock', () => {
  it('second server on the same data dir fails to start', async () => {
    const dataDir = join(workDir, 'locked');
    const first = await startTestServer(dataDir);
    try {
      const error = await startTestServer(dataDir).then(
        () => undefined,
        (caught: unknown) => caught as Error,
      );
      expect(error).toBeInstanceOf(Error);
      expect(error!.message).toContain(dataDir);
      expect(error!.message).toContain(`pid ${process.pid}`);
      expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
    } finally {
      await first.close();
    }
    expect(existsSync(join(dataDir, 'server.lock'))).toBe(false);
    const again = await startTestServer(dataDir);
    await again.close();
  });

  it('stale lock of an exited process is replaced', async () => {
    const dataDir = join(workDir, 'stale');
    mkdirSync(dataDir, { recursive: true });
    const exited = spawnSync(process.execPath, ['-e', 'process.exit(0)']);
    expect(exited.pid).toBeGreaterThan(0);
    writeFileSync(join(dataDir, 'server.lock'), `${exited.pid}\n`);
    const server = await startTestServer(dataDir);
    try {
      expect(readFileSync(join(dataDir, 'server.lock'), 'utf8').trim()).toBe(String(process.pid));
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

describe('job ownership', () => {
  let server: RunningServer;
  let jobUrl: string;

  beforeAll(async () => {
    server = await startTestServer(join(workDir, 'owned'));
    await server.ready;
    const body = new FormData();
    for (const [name, value] of Object.entries(SUBJECT)) body.append(name, value);
    body.append('scan', new Blob([readFileSync(CT64_NRRD)]), 'ct-64.nrrd');
    const response = await fetch(`${server.url}/v1/predictions`, withKey(OWNER_KEY, {
      method: 'POST',
      body,
    }));
    expect(response.status).toBe(202);
    jobUrl = `${server.url}/v1/predictions/${((await response.json()) as { id: string }).id}`;
  }, 60_000);

  afterAll(async () => {
    await server?.close();
  });

  it('other key gets 404 on GET', async () => {
    const response = await fetch(jobUrl, withKey(OTHER_KEY));
    expect(response.status).toBe(404);
    expect(((await response.json()) as any).error.code).toBe('NOT_FOUND');
  });

  it('other key gets 404 on result files', async () => {
    const response = await fetch(`${jobUrl}/map.nii.gz`, withKey(OTHER_KEY));
    expect(response.status).toBe(404);
  });

  it('other key gets 404 on DELETE', async () => {
    const response = await fetch(jobUrl, withKey(OTHER_KEY, { method: 'DELETE' }));
    expect(response.status).toBe(404);
    expect((await fetch(jobUrl, withKey(OWNER_KEY))).status).toBe(200);
  });

  it('owner key reads the job', async () => {
    const response = await fetch(jobUrl, withKey(OWNER_KEY));
    expect(response.status).toBe(200);
    expect(JSON.stringify(await response.json())).not.toContain(OWNER_KEY);
  });
});

describe('job stored without an owner', () => {
  it('any valid key reads it after migration', async () => {
    const dataDir = join(workDir, 'legacy');
    mkdirSync(join(dataDir, 'jobs'), { recursive: true });
    const db = new Database(join(dataDir, 'jobs.sqlite'));
    db.exec(`CREATE TABLE jobs (id TEXT PRIMARY KEY, state TEXT NOT NULL, scan_path TEXT NOT NULL,
      subject_json TEXT NOT NULL, created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT,
      attempts INTEGER NOT NULL DEFAULT 0, failure_json TEXT)`);
    const failure = JSON.stringify({ status: 422, code: 'INPUT_CORRUPT', message: 'Old job.' });
    db.prepare(
      `INSERT INTO jobs (id, state, scan_path, subject_json, created_at, failure_json)
       VALUES ('old-job', 'failed', 'x', '{}', '2026-01-01T00:00:00.000Z', ?)`,
    ).run(failure);
    db.close();
    const server = await startTestServer(dataDir);
    try {
      for (const key of [OWNER_KEY, OTHER_KEY]) {
        const response = await fetch(`${server.url}/v1/predictions/old-job`, withKey(key));
        expect(response.status).toBe(200);
      }
    } finally {
      await server.close();
    }
  });
});

describe('API key rules', () => {
  const cases: [string, string[], RegExp][] = [
    ['only separators', [' ', ' ', ''], /contains no usable key/],
    ['key with a space', ['isolation key with spaces'], /API key 1 of 1 contains whitespace/],
    ['short key', [OWNER_KEY, 'short-key'], /API key 2 of 2 is shorter than 16 characters/],
  ];
  for (const [name, apiKeys, message] of cases) {
    it(`BAD CALL - ${name} fails at start`, async () => {
      const start = startServer({
        port: 0,
        dataDir: join(workDir, `keys-${name.replaceAll(' ', '-')}`),
        modelDir: TINY_MODEL,
        apiKeys,
        logger: capturingLogger().logger,
      });
      const error = await start.then(
        () => undefined,
        (caught: unknown) => caught as Error,
      );
      expect(error?.message).toMatch(message);
      for (const key of apiKeys.filter((key) => key.trim() !== '')) {
        expect(error?.message).not.toContain(key);
      }
    });
  }
});

describe('malformed Authorization header', () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startTestServer(join(workDir, 'auth'));
  });

  afterAll(async () => {
    await server?.close();
  });

  const malformed = [OWNER_KEY, `Token ${OWNER_KEY}`, `Bearer ${OWNER_KEY} extra`, 'Bearer'];
  for (const value of malformed) {
    it(`BAD CALL - '${value.slice(0, 12)}...' returns 403`, async () => {
      const response = await fetch(`${server.url}/v1/predictions/some-id`, {
        headers: { Authorization: value },
      });
      expect(response.status).toBe(403);
      const body = (await response.json()) as any;
      expect(body.error.code).toBe('FORBIDDEN');
      expect(body.error.message).toContain('Bearer KEY');
    });
  }
});

describe('API response headers', () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startTestServer(join(workDir, 'headers'));
    await server.ready;
  });

  afterAll(async () => {
    await server?.close();
  });

  const requests: [string, string, string | undefined][] = [
    ['job of the owner key', '/v1/predictions/no-such-job', OWNER_KEY],
    ['request without a key', '/v1/predictions/no-such-job', undefined],
    ['result file', '/v1/predictions/no-such-job/map.nii.gz', OWNER_KEY],
    ['OpenAPI document', '/openapi.json', undefined],
    ['metrics', '/metrics', undefined],
  ];
  for (const [name, path, key] of requests) {
    it(`${name} has nosniff and no-store`, async () => {
      const init = key === undefined ? {} : withKey(key);
      const response = await fetch(`${server.url}${path}`, init);
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('cache-control')).toBe('no-store');
    });
  }
});

describe('OpenAPI document', () => {
  let document: any;

  beforeAll(async () => {
    const server = await startTestServer(join(workDir, 'openapi'));
    try {
      document = await (await fetch(`${server.url}/openapi.json`)).json();
    } finally {
      await server.close();
    }
  });

  it('has a unique operationId per operation', () => {
    const ids: string[] = [];
    for (const [path, operations] of Object.entries<any>(document.paths)) {
      for (const [method, operation] of Object.entries<any>(operations)) {
        expect(typeof operation.operationId, `${method} ${path}`).toBe('string');
        ids.push(operation.operationId);
      }
    }
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('lists 401 and 403 for every /v1 operation', () => {
    for (const [path, operations] of Object.entries<any>(document.paths)) {
      if (!path.startsWith('/v1/')) continue;
      for (const [method, operation] of Object.entries<any>(operations)) {
        expect(operation.responses['401'], `${method} ${path}`).toBeDefined();
        expect(operation.responses['403'], `${method} ${path}`).toBeDefined();
      }
    }
  });

  it('has enums for sex and smoking', () => {
    const form =
      document.paths['/v1/predictions'].post.requestBody.content['multipart/form-data'].schema;
    expect(form.properties.sex.enum).toEqual(['M', 'F']);
    expect(form.properties.smoking.enum).toEqual(['never', 'former', 'current']);
  });

  it('documents the root redirect', () => {
    expect(document.paths['/'].get.responses['302']).toBeDefined();
  });
});

describe('error messages', () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startTestServer(join(workDir, 'messages'));
    await server.ready;
  });

  afterAll(async () => {
    await server?.close();
  });

  async function post(fields: Record<string, string>, scan?: Blob) {
    const body = new FormData();
    for (const [name, value] of Object.entries(fields)) body.append(name, value);
    if (scan !== undefined) body.append('scan', scan, 'ct.nii.gz');
    const init = withKey(OWNER_KEY, { method: 'POST', body });
    const response = await fetch(`${server.url}/v1/predictions`, init);
    return { status: response.status, body: (await response.json()) as any };
  }

  it('BAD CALL - negative pack_years names the form field', async () => {
    const scan = new Blob([readFileSync(CT64_NRRD)]);
    const { status, body } = await post({ ...SUBJECT, pack_years: '-5' }, scan);
    expect(status).toBe(422);
    expect(body.error.details.field).toBe('pack_years');
    expect(body.error.message).toContain('pack_years -5 is outside 0 to 300 pack-years');
    expect(body.error.message).not.toContain('pack-years is in pack-years');
  });

  it('BAD CALL - scan sent as text field', async () => {
    const { status, body } = await post({ ...SUBJECT, scan: 'ct.nii.gz' });
    expect(status).toBe(400);
    expect(body.error.code).toBe('UPLOAD_INVALID');
    expect(body.error.message).toMatch(/^scan must be a file/);
  });

  it('BAD CALL - very long id is cut in the message', async () => {
    const id = 'x'.repeat(5000);
    const response = await fetch(`${server.url}/v1/predictions/${id}`, withKey(OWNER_KEY));
    expect(response.status).toBe(404);
    const body = (await response.json()) as any;
    expect(body.error.message.length).toBeLessThan(200);
    expect(body.error.message).toContain('x'.repeat(64));
  });

  it('EXPECTED FAILURE - files of a failed job return 409 JOB_FAILED', async () => {
    // A 30 mm spacing passes the upload checks, and the job's reader rejects it.
    const data = new Int16Array(8 * 8 * 8).fill(-1000);
    const coarse = new Blob([
      new Uint8Array(niftiInt16({ dims: [8, 8, 8], spacingMm: [30, 30, 30], data })),
    ]);
    const { status, body } = await post(SUBJECT, coarse);
    expect(status).toBe(202);
    const jobUrl = `${server.url}/v1/predictions/${body.id}`;
    let job: any;
    for (let tries = 0; tries < 600; tries += 1) {
      job = await (await fetch(jobUrl, withKey(OWNER_KEY))).json();
      if (job.state === 'failed' || job.state === 'done') break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(job.state).toBe('failed');
    const response = await fetch(`${jobUrl}/map.nii.gz`, withKey(OWNER_KEY));
    expect(response.status).toBe(409);
    const error = ((await response.json()) as any).error;
    expect(error.code).toBe('JOB_FAILED');
    expect(error.details.errorCode).toBe(job.error.code);
    expect(error.message).toContain(job.error.code);
  });
});

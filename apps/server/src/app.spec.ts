import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

import { resultSchemaErrors } from '@dlco/model';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startServer, type RunningServer } from './index.ts';
import { JobStore } from './lib/job-store.ts';
import { capturingLogger, postZeros } from './testing/http-helpers.ts';

const SERVER_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const REAL_DATA = join(SERVER_ROOT, '../../../shared/data/real');
const CT64_NRRD = join(REAL_DATA, 'cip-ct64/ct-64.nrrd');
const CT64_DICOM = join(REAL_DATA, 'cip-ct64/dicom');
const TWO_SLICES = join(REAL_DATA, 'lungmask-two-slices');
const THORAX_NIFTI_GZ = join(REAL_DATA, 'ts-thorax-crop/ct.nii.gz');
const TINY_MODEL = join(SERVER_ROOT, '../../libs/model/testdata/tiny-model');

const API_KEY = 'test-key-1-0123456789';
const SUBJECT = { age: '63', sex: 'M', height: '175', weight: '80', hb: '14' };
/** Ten bytes, the length of the 'Anonymous' value (with its padding) it replaces. */
const PATIENT_NAME = 'DOE^JANE^Q';
const MAX_UPLOAD_BYTES = 4 * 1024 * 1024;

const workDir = mkdtempSync(join(tmpdir(), 'dlco-server-'));
const dataDir = join(workDir, 'data');
const capture = capturingLogger();
let server: RunningServer;

function startTestServer(overrides: { dataDir?: string; maxQueueDepth?: number } = {}) {
  return startServer({
    host: '127.0.0.1',
    port: 0,
    dataDir: overrides.dataDir ?? dataDir,
    modelDir: TINY_MODEL,
    apiKeys: [API_KEY, 'test-key-2-0123456789'],
    logger: capture.logger,
    explain: ['contributions'],
    limits: { maxUploadBytes: MAX_UPLOAD_BYTES, maxQueueDepth: overrides.maxQueueDepth ?? 16 },
  });
}

beforeAll(async () => {
  server = await startTestServer();
  await server.ready;
});

afterAll(async () => {
  await server?.close();
  rmSync(workDir, { recursive: true, force: true });
});

function authorized(init: RequestInit = {}): RequestInit {
  return { ...init, headers: { Authorization: `Bearer ${API_KEY}`, ...init.headers } };
}

function form(file: Blob | Blob[], fields: Record<string, string> = SUBJECT): FormData {
  const body = new FormData();
  for (const [name, value] of Object.entries(fields)) body.append(name, value);
  // Distinct names, because the server rejects two parts with the same file name.
  const parts = Array.isArray(file) ? file : [file];
  parts.forEach((part, n) => body.append('scan', part, `upload-${n}.bin`));
  return body;
}

async function postScan(file: Blob | Blob[], fields?: Record<string, string>) {
  return fetch(
    `${server.url}/v1/predictions`,
    authorized({ method: 'POST', body: form(file, fields) }),
  );
}

/** Polls a job until it is done or failed, for at most `timeoutMs`. */
async function waitForJob(
  id: string,
  baseUrl = server.url,
  timeoutMs = 180_000,
): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const response = await fetch(`${baseUrl}/v1/predictions/${id}`, authorized());
    const job = (await response.json()) as Record<string, any>;
    if (job.state === 'done' || job.state === 'failed') return job;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`job ${id} did not finish within ${timeoutMs} ms`);
}

function fileBlob(path: string, bytes?: number): Blob {
  const data = readFileSync(path);
  return new Blob([bytes === undefined ? data : data.subarray(0, bytes)]);
}

describe('service routes', () => {
  it('healthz, readyz and openapi.json answer without a key', async () => {
    for (const path of ['/healthz', '/readyz', '/openapi.json']) {
      const response = await fetch(`${server.url}${path}`);
      expect(response.status, path).toBe(200);
    }
    const document = await (await fetch(`${server.url}/openapi.json`)).json();
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths)).toContain('/v1/predictions/{id}/map.nii.gz');
  });

  it('unknown route returns 404 NOT_FOUND', async () => {
    const response = await fetch(`${server.url}/nothing-here`);
    expect(response.status).toBe(404);
    expect((await response.json()).error.code).toBe('NOT_FOUND');
  });
});

describe('authentication', () => {
  const jobUrl = () => `${server.url}/v1/predictions/00000000-0000-0000-0000-000000000000`;

  it('BAD CALL - no key returns 401', async () => {
    const response = await fetch(jobUrl());
    expect(response.status).toBe(401);
    expect((await response.json()).error.code).toBe('UNAUTHORIZED');
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('BAD CALL - wrong key returns 403', async () => {
    const response = await fetch(jobUrl(), { headers: { Authorization: 'Bearer wrong-key' } });
    expect(response.status).toBe(403);
    expect((await response.json()).error.code).toBe('FORBIDDEN');
  });

  it('either valid key reaches the route', async () => {
    for (const key of [API_KEY, 'test-key-2-0123456789']) {
      const response = await fetch(jobUrl(), { headers: { Authorization: `Bearer ${key}` } });
      expect(response.status, key).toBe(404);
      expect((await response.json()).error.code, key).toBe('NOT_FOUND');
    }
  });

  it('BAD CALL - upload without key returns 401', async () => {
    const response = await fetch(`${server.url}/v1/predictions`, {
      method: 'POST',
      body: form(fileBlob(CT64_NRRD)),
    });
    expect(response.status).toBe(401);
  });
});

describe('prediction of the NRRD scan', () => {
  let jobId: string;
  let job: Record<string, any>;

  beforeAll(async () => {
    const response = await postScan(fileBlob(CT64_NRRD));
    expect(response.status).toBe(202);
    const body = await response.json();
    jobId = body.id;
    expect(response.headers.get('location')).toBe(`/v1/predictions/${jobId}`);
    expect(['queued', 'running']).toContain(body.state);
    job = await waitForJob(jobId);
  }, 240_000);

  it('ends done with the result JSON', () => {
    expect(job.state, JSON.stringify(job.error)).toBe('done');
    expect(job.result.dlco.unit).toBe('ml/min/mmHg');
    expect(typeof job.result.dlco.estimate).toBe('number');
    expect(job.result.model.id).toBe('dlco-ct-tiny-model');
    expect(job.result.intendedUse).toMatch(/^Research use, not diagnosis\./);
    expect(resultSchemaErrors(job.result)).toEqual([]);
  });

  it('serves map, lung mask, overlay and scan', async () => {
    const expected: Record<string, [string, number[]]> = {
      'map.nii.gz': ['application/gzip', [0x1f, 0x8b]],
      'lung-mask.nii.gz': ['application/gzip', [0x1f, 0x8b]],
      'overlay.png': ['image/png', [0x89, 0x50, 0x4e, 0x47]],
      'scan.nii.gz': ['application/gzip', [0x1f, 0x8b]],
    };
    for (const [file, [type, magic]] of Object.entries(expected)) {
      const response = await fetch(`${server.url}/v1/predictions/${jobId}/${file}`, authorized());
      expect(response.status, file).toBe(200);
      expect(response.headers.get('content-type'), file).toBe(type);
      expect(response.headers.get('x-content-type-options'), file).toBe('nosniff');
      expect(response.headers.get('cache-control'), file).toBe('no-store');
      const bytes = new Uint8Array(await response.arrayBuffer());
      expect(bytes.length, file).toBeGreaterThan(100);
      expect(Array.from(bytes.subarray(0, magic.length)), file).toEqual(magic);
    }
  });

  it('counts the job and requests in metrics', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/^dlco_jobs\{state="done"\} [1-9]/m);
    expect(text).toContain('route="/v1/predictions",status="202"');
    expect(text).toMatch(/^dlco_queue_depth \d+$/m);
  });
});

describe('upload checks', () => {
  it('BAD CALL - text content returns 415', async () => {
    const response = await postScan(new Blob(['this is not a scan\n'.repeat(100)]));
    expect(response.status).toBe(415);
    expect((await response.json()).error.code).toBe('UPLOAD_TYPE_UNSUPPORTED');
  });

  it('BAD CALL - missing weight returns 400', async () => {
    const { weight: _weight, ...withoutWeight } = SUBJECT;
    const response = await postScan(fileBlob(CT64_NRRD), withoutWeight);
    expect(response.status).toBe(400);
    const { error } = await response.json();
    expect(error.code).toBe('METADATA_INVALID');
    expect(error.details.field).toBe('weight');
  });

  it('BAD CALL - age 300 returns 422', async () => {
    const response = await postScan(fileBlob(CT64_NRRD), { ...SUBJECT, age: '300' });
    expect(response.status).toBe(422);
    const { error } = await response.json();
    expect(error.code).toBe('METADATA_INVALID');
    expect(error.details.field).toBe('age');
  });

  it('BAD CALL - age 300 stops a large upload early', async () => {
    const response = await postZeros(
      `${server.url}/v1/predictions`,
      API_KEY,
      { ...SUBJECT, age: '300' },
      MAX_UPLOAD_BYTES - 1024 * 1024,
      false,
    );
    expect(response.status).toBe(422);
    const { error } = JSON.parse(response.body);
    expect(error.code).toBe('METADATA_INVALID');
    expect(error.details.field).toBe('age');
  });

  it('BAD CALL - missing scan returns 400', async () => {
    const response = await postScan([]);
    expect(response.status).toBe(400);
    expect((await response.json()).error.code).toBe('UPLOAD_INVALID');
  });

  for (const withContentLength of [true, false]) {
    const header = withContentLength ? 'with' : 'without';
    it(`BAD CALL - too large upload, ${header} Content-Length`, async () => {
      const response = await postZeros(
        `${server.url}/v1/predictions`,
        API_KEY,
        SUBJECT,
        3 * MAX_UPLOAD_BYTES,
        withContentLength,
      );
      expect(response.status).toBe(413);
      expect(JSON.parse(response.body).error.code).toBe('UPLOAD_TOO_LARGE');
    });
  }

  it('EXPECTED FAILURE - two DICOM files fail with INPUT_TOO_FEW_SLICES', async () => {
    const files = ['0.dcm', '1.dcm'].map((name) => fileBlob(join(TWO_SLICES, name)));
    const response = await postScan(files);
    expect(response.status).toBe(202);
    const job = await waitForJob((await response.json()).id);
    expect(job.state).toBe('failed');
    expect(job.error.code).toBe('INPUT_TOO_FEW_SLICES');
    expect(job.errorStatus).toBe(422);
    expect(job.error.message).toMatch(/^The uploaded scan has size/);
    expect(job.error.message).not.toContain('upload/');
  });

  it('EXPECTED FAILURE - two DICOM series fail with DICOM_MULTIPLE_SERIES', async () => {
    const ct64 = readdirSync(CT64_DICOM).map((name) => fileBlob(join(CT64_DICOM, name)));
    const other = ['0.dcm', '1.dcm'].map((name) => fileBlob(join(TWO_SLICES, name)));
    const response = await postScan([...ct64, ...other]);
    expect(response.status).toBe(202);
    const job = await waitForJob((await response.json()).id);
    expect(job.state).toBe('failed');
    expect(job.error.code).toBe('DICOM_MULTIPLE_SERIES');
    expect(job.errorStatus).toBe(422);
    expect(existsSync(join(dataDir, 'jobs', job.id, 'upload'))).toBe(false);
    expect(job.error.message).toContain('Found 2 CT series in the uploaded scan');
    expect(job.error.message).toContain('Send the files of one series only');
  });

  it('BAD CALL - DICOM mixed with NRRD returns 415', async () => {
    const response = await postScan([fileBlob(join(TWO_SLICES, '0.dcm')), fileBlob(CT64_NRRD)]);
    expect(response.status).toBe(415);
    expect((await response.json()).error.code).toBe('UPLOAD_TYPE_UNSUPPORTED');
  });

  it('rejected uploads leave no job folders', async () => {
    const folders = readdirSync(join(dataDir, 'jobs'));
    expect(folders.length).toBeGreaterThan(0);
    for (const id of folders) {
      const response = await fetch(`${server.url}/v1/predictions/${id}`, authorized());
      expect(response.status, id).toBe(200);
    }
  });

  it('BAD CALL - truncated gzip returns 422 INPUT_CORRUPT', async () => {
    const response = await postScan(fileBlob(THORAX_NIFTI_GZ, 200_000));
    expect(response.status).toBe(422);
    expect((await response.json()).error.code).toBe('INPUT_CORRUPT');
  });

  it('healthz still answers', async () => {
    const response = await fetch(`${server.url}/healthz`);
    expect(response.status).toBe(200);
  });
});

describe('DICOM zip with a patient name', () => {
  let job: Record<string, any>;
  let responses = '';

  beforeAll(async () => {
    const entries: Record<string, Uint8Array> = {};
    for (const name of readdirSync(CT64_DICOM)) {
      const bytes = readFileSync(join(CT64_DICOM, name));
      const at = bytes.indexOf(Buffer.from('Anonymous\0', 'latin1'));
      if (at >= 0) bytes.write(PATIENT_NAME, at, 'latin1');
      entries[name] = bytes;
    }
    const named = Object.values(entries).filter((bytes) =>
      Buffer.from(bytes).includes(PATIENT_NAME),
    );
    expect(named.length).toBeGreaterThan(0);
    const zipPath = join(workDir, 'named.zip');
    writeFileSync(zipPath, zipSync(entries));

    const response = await postScan(fileBlob(zipPath));
    responses += await response.clone().text();
    expect(response.status).toBe(202);
    const { id } = await response.json();
    job = await waitForJob(id);
    responses += JSON.stringify(job);
  }, 240_000);

  it('ends done', () => {
    expect(job.state, JSON.stringify(job.error)).toBe('done');
  });

  it('deletes the uploaded originals', () => {
    const jobFolder = join(dataDir, 'jobs', job.id);
    expect(existsSync(join(jobFolder, 'result', 'result.json'))).toBe(true);
    expect(existsSync(join(jobFolder, 'upload'))).toBe(false);
    const files = readdirSync(jobFolder, { recursive: true }) as string[];
    for (const file of files.filter((name) => !name.endsWith('.gz'))) {
      const path = join(jobFolder, file);
      if (!existsSync(path) || !statSync(path).isFile()) continue;
      expect(readFileSync(path).includes(PATIENT_NAME), file).toBe(false);
    }
  });

  it('keeps the patient name out of scan.nii.gz', async () => {
    const url = `${server.url}/v1/predictions/${job.id}/scan.nii.gz`;
    const response = await fetch(url, authorized());
    expect(response.status).toBe(200);
    const volume = gunzipSync(Buffer.from(await response.arrayBuffer()));
    expect(volume.includes(PATIENT_NAME)).toBe(false);
    // The 348-byte NIfTI-1 header and its extensions contain all text in the file.
    const header = volume.subarray(0, volume.readFloatLE(108)).toString('latin1');
    expect(header).not.toContain('DOE');
  });

  it('keeps the patient name out of responses and logs', () => {
    expect(responses).not.toContain(PATIENT_NAME);
    expect(responses).not.toContain('DOE');
    const logs = capture.lines.join('');
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).not.toContain(PATIENT_NAME);
    expect(logs).not.toContain('DOE');
  });
});

describe('queue limit', () => {
  it('BAD CALL - full queue returns 503 with Retry-After', async () => {
    const fullServer = await startTestServer({
      dataDir: join(workDir, 'full'),
      maxQueueDepth: 0,
    });
    try {
      await fullServer.ready;
      const response = await fetch(
        `${fullServer.url}/v1/predictions`,
        authorized({ method: 'POST', body: form(fileBlob(CT64_NRRD)) }),
      );
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('30');
      expect((await response.json()).error.code).toBe('QUEUE_FULL');
    } finally {
      await fullServer.close();
    }
  });
});

describe('restart and delete', () => {
  let jobId: string;
  let before: Record<string, any>;

  beforeAll(async () => {
    const response = await postScan(fileBlob(CT64_NRRD));
    jobId = (await response.json()).id;
    before = await waitForJob(jobId);
    await server.close();
    server = await startTestServer();
    await server.ready;
  }, 240_000);

  it('new instance serves the finished result', async () => {
    const response = await fetch(`${server.url}/v1/predictions/${jobId}`, authorized());
    expect(response.status).toBe(200);
    const after = await response.json();
    expect(after.state).toBe('done');
    expect(after.result).toEqual(before.result);
    const map = await fetch(`${server.url}/v1/predictions/${jobId}/map.nii.gz`, authorized());
    expect(map.status).toBe(200);
  });

  it('DELETE removes the job and its files', async () => {
    const url = `${server.url}/v1/predictions/${jobId}`;
    const response = await fetch(url, authorized({ method: 'DELETE' }));
    expect(response.status).toBe(204);
    expect((await fetch(url, authorized())).status).toBe(404);
    expect(existsSync(join(dataDir, 'jobs', jobId))).toBe(false);
  });
});

describe('job interrupted by a stop', () => {
  it('runs again on the next start', async () => {
    const interruptedDir = join(workDir, 'interrupted');
    const store = new JobStore(interruptedDir);
    const id = 'interrupted-job';
    const scanPath = join(store.jobDir(id), 'upload', 'scan.nrrd');
    mkdirSync(dirname(scanPath), { recursive: true });
    copyFileSync(CT64_NRRD, scanPath);
    const subject = { ageYears: 63, sex: 'M' as const, heightCm: 175, weightKg: 80 };
    store.insert({ id, scanPath, subject });
    store.markRunning(id);
    store.close();

    const restarted = await startTestServer({ dataDir: interruptedDir });
    try {
      await restarted.ready;
      const job = await waitForJob(id, restarted.url);
      expect(job.state, JSON.stringify(job.error)).toBe('done');
      expect(typeof job.result.dlco.estimate).toBe('number');
    } finally {
      await restarted.close();
    }
  }, 240_000);
});

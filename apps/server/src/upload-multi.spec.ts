import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startServer, type RunningServer } from './index.ts';
import { capturingLogger } from './testing/http-helpers.ts';
import { multipartBody, sendRaw, type MultipartPart } from './testing/raw-request.ts';
import { detachedNrrdHeader, metaImageHeader, splitNrrd } from './testing/scan-fixtures.ts';

const SERVER_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const REAL_DATA = join(SERVER_ROOT, '../../../shared/data/real');
const CT64_NRRD = readFileSync(join(REAL_DATA, 'cip-ct64/ct-64.nrrd'));
const CT64_DICOM = join(REAL_DATA, 'cip-ct64/dicom');
const CT64_VOXELS = splitNrrd(CT64_NRRD).voxels;
const TINY_MODEL = join(SERVER_ROOT, '../../libs/model/testdata/tiny-model');

const API_KEY = 'multi-file-key-0123456789';
const SUBJECT = { age: '63', sex: 'M', height: '175', weight: '80' };

const workDir = mkdtempSync(join(tmpdir(), 'dlco-multi-'));
const dataDir = join(workDir, 'data');
let server: RunningServer;

beforeAll(async () => {
  server = await startServer({
    host: '127.0.0.1',
    port: 0,
    dataDir,
    modelDir: TINY_MODEL,
    apiKeys: [API_KEY],
    logger: capturingLogger().logger,
    explain: ['contributions'],
  });
  await server.ready;
});

afterAll(async () => {
  await server?.close();
  rmSync(workDir, { recursive: true, force: true });
});

const authorization = { Authorization: `Bearer ${API_KEY}` };

/** Posts the subject fields and one `scan` part per file; returns the status and JSON body. */
async function postFiles(files: { fileName?: string; data: Buffer }[]) {
  const parts: MultipartPart[] = [
    ...Object.entries(SUBJECT).map(([name, value]) => ({ name, value })),
    ...files.map((file) => ({ name: 'scan', fileName: file.fileName, data: file.data })),
  ];
  const { contentType, body } = multipartBody(parts);
  const outcome = await sendRaw(`${server.url}/v1/predictions`, {
    headers: { ...authorization, 'Content-Type': contentType },
    body,
  });
  if (outcome.kind !== 'response') throw new Error(`no response: ${JSON.stringify(outcome)}`);
  return { status: outcome.status, body: JSON.parse(outcome.body) as Record<string, any> };
}

async function waitForJob(id: string, timeoutMs = 180_000): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const response = await fetch(`${server.url}/v1/predictions/${id}`, { headers: authorization });
    const job = (await response.json()) as Record<string, any>;
    if (job.state === 'done' || job.state === 'failed') return job;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`job ${id} did not finish within ${timeoutMs} ms`);
}

/** Files below a job's upload folder, as paths relative to it. */
function uploadEntries(id: string): string[] {
  const folder = join(dataDir, 'jobs', id, 'upload');
  return (readdirSync(folder, { recursive: true }) as string[]).sort();
}

/**
 * Posts the files, lists the stored upload right after the 202, and waits for the job. The job
 * deletes its upload folder when it ends, which takes seconds of reading and prediction, so
 * the listing right after the 202 sees the stored files.
 */
async function predict(files: { fileName?: string; data: Buffer }[]) {
  const response = await postFiles(files);
  expect(response.status, JSON.stringify(response.body)).toBe(202);
  const id = response.body.id as string;
  const stored = uploadEntries(id);
  const job = await waitForJob(id);
  expect(job.state, JSON.stringify(job.error)).toBe('done');
  expect(existsSync(join(dataDir, 'jobs', id, 'upload'))).toBe(false);
  return { id, stored, estimate: job.result.dlco.estimate as number };
}

describe('multi-file volumes', () => {
  let reference: number;

  beforeAll(async () => {
    reference = (await predict([{ fileName: 'ct-64.nrrd', data: CT64_NRRD }])).estimate;
  }, 240_000);

  it('.nhdr with .raw predicts as the .nrrd', async () => {
    const { stored, estimate } = await predict([
      { fileName: 'ct-64.nhdr', data: detachedNrrdHeader(CT64_NRRD, 'ct-64.raw') },
      { fileName: 'ct-64.raw', data: CT64_VOXELS },
    ]);
    expect(estimate).toBeCloseTo(reference, 6);
    expect(stored).toEqual(['volume', 'volume/ct-64.raw', 'volume/scan.nhdr']);
  });

  it('.mhd with .raw predicts as the .nrrd', async () => {
    const { stored, estimate } = await predict([
      { fileName: 'ct-64.raw', data: CT64_VOXELS },
      { fileName: 'ct-64.mhd', data: metaImageHeader(CT64_NRRD, 'ct-64.raw') },
    ]);
    expect(estimate).toBeCloseTo(reference, 6);
    expect(stored).toEqual(['volume', 'volume/ct-64.raw', 'volume/scan.mhd']);
  });

  it('client paths are reduced to basenames', async () => {
    const { stored } = await predict([
      { fileName: '../../outside/ct.nhdr', data: detachedNrrdHeader(CT64_NRRD, 'ct.raw') },
      { fileName: 'C:\\scans\\..\\ct.raw', data: CT64_VOXELS },
    ]);
    expect(stored).toEqual(['volume', 'volume/ct.raw', 'volume/scan.nhdr']);
    expect(readdirSync(workDir)).toEqual(['data']);
  });

  it('data file named like the stored header', async () => {
    const { stored } = await predict([
      { fileName: 'a.nhdr', data: detachedNrrdHeader(CT64_NRRD, 'scan.nhdr') },
      { fileName: 'scan.nhdr', data: CT64_VOXELS },
    ]);
    expect(stored).toEqual(['volume', 'volume/header.nhdr', 'volume/scan.nhdr']);
  });

  it('DICOM series sent as 79 parts', async () => {
    const names = readdirSync(CT64_DICOM).sort();
    expect(names).toHaveLength(79);
    const files = names.map((name) => ({
      fileName: name,
      data: readFileSync(join(CT64_DICOM, name)),
    }));
    const { stored, estimate } = await predict(files);
    expect(Number.isFinite(estimate)).toBe(true);
    expect(stored.filter((entry) => entry.startsWith('dicom/'))).toHaveLength(79);
  });
});

describe('multi-file rejections', () => {
  const header = (dataFile: string) => detachedNrrdHeader(CT64_NRRD, dataFile);
  const cases: [string, { fileName?: string; data: Buffer }[], number, string][] = [
    [
      'data file not uploaded',
      [{ fileName: 'ct.nhdr', data: header('ct.raw') }],
      400,
      'UPLOAD_DATA_FILE_INVALID',
    ],
    [
      'data part under another name',
      [
        { fileName: 'ct.nhdr', data: header('ct.raw') },
        { fileName: 'other.raw', data: CT64_VOXELS },
      ],
      400,
      'UPLOAD_DATA_FILE_INVALID',
    ],
    [
      'extra part besides the data file',
      [
        { fileName: 'ct.nhdr', data: header('ct.raw') },
        { fileName: 'ct.raw', data: CT64_VOXELS },
        { fileName: 'notes.txt', data: Buffer.from('extra') },
      ],
      400,
      'UPLOAD_DATA_FILE_INVALID',
    ],
    [
      'attached .nrrd with an extra part',
      [
        { fileName: 'ct.nrrd', data: CT64_NRRD },
        { fileName: 'ct.raw', data: CT64_VOXELS },
      ],
      400,
      'UPLOAD_DATA_FILE_INVALID',
    ],
    [
      'data file in a parent folder',
      [
        { fileName: 'ct.nhdr', data: header('../ct.raw') },
        { fileName: 'ct.raw', data: CT64_VOXELS },
      ],
      400,
      'UPLOAD_DATA_FILE_INVALID',
    ],
    [
      'data file with a backslash path',
      [
        { fileName: 'ct.nhdr', data: header('..\\ct.raw') },
        { fileName: 'ct.raw', data: CT64_VOXELS },
      ],
      400,
      'UPLOAD_DATA_FILE_INVALID',
    ],
    [
      'hidden data file',
      [
        { fileName: 'ct.nhdr', data: header('.ct.raw') },
        { fileName: 'ct.raw', data: CT64_VOXELS },
      ],
      400,
      'UPLOAD_DATA_FILE_INVALID',
    ],
    [
      'data file list',
      [
        { fileName: 'ct.nhdr', data: header('LIST') },
        { fileName: 'ct.raw', data: CT64_VOXELS },
      ],
      400,
      'UPLOAD_DATA_FILE_INVALID',
    ],
    [
      'data file named twice',
      [
        {
          fileName: 'ct.nhdr',
          data: Buffer.from(
            header('ct.raw')
              .toString('latin1')
              .replace('data file:', 'datafile: /etc/hostname\ndata file:'),
            'latin1',
          ),
        },
        { fileName: 'ct.raw', data: CT64_VOXELS },
      ],
      400,
      'UPLOAD_DATA_FILE_INVALID',
    ],
    [
      'MetaImage with a numbered file pattern',
      [
        { fileName: 'ct.mhd', data: metaImageHeader(CT64_NRRD, 'slice%03d.raw 1 79 1') },
        { fileName: 'ct.raw', data: CT64_VOXELS },
      ],
      400,
      'UPLOAD_DATA_FILE_INVALID',
    ],
    [
      'two headers',
      [
        { fileName: 'a.nhdr', data: header('ct.raw') },
        { fileName: 'b.mhd', data: metaImageHeader(CT64_NRRD, 'ct.raw') },
        { fileName: 'ct.raw', data: CT64_VOXELS },
      ],
      400,
      'UPLOAD_INVALID',
    ],
    [
      'duplicate data part',
      [
        { fileName: 'ct.nhdr', data: header('ct.raw') },
        { fileName: 'ct.raw', data: CT64_VOXELS },
        { fileName: 'dir/ct.raw', data: CT64_VOXELS },
      ],
      400,
      'UPLOAD_FILE_NAME_DUPLICATE',
    ],
    [
      'name ending in a separator',
      [{ fileName: 'scans/', data: CT64_NRRD }],
      400,
      'UPLOAD_FILE_NAME_INVALID',
    ],
  ];

  it.each(cases)('BAD CALL - %s', async (_name, files, status, code) => {
    const before = readdirSync(join(dataDir, 'jobs')).length;
    const response = await postFiles(files);
    expect(response.status, JSON.stringify(response.body)).toBe(status);
    expect(response.body.error.code, response.body.error.message).toBe(code);
    expect(readdirSync(join(dataDir, 'jobs'))).toHaveLength(before);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startServer, type RunningServer } from './index.ts';
import { capturingLogger } from './testing/http-helpers.ts';
import {
  multipartBody,
  sendRaw,
  type MultipartPart,
  type RawOutcome,
} from './testing/raw-request.ts';
import {
  detachedNrrdHeader,
  niftiInt16,
  pngHeader,
  softTissueVolume,
  splitNrrd,
  zipArchive,
} from './testing/scan-fixtures.ts';

const SERVER_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const REAL_DATA = join(SERVER_ROOT, '../../../shared/data/real');
const CT64_NRRD = readFileSync(join(REAL_DATA, 'cip-ct64/ct-64.nrrd'));
const CT64_SLICE = readFileSync(join(REAL_DATA, 'cip-ct64/dicom/IMG0001.dcm'));
const THORAX_NIFTI_GZ = readFileSync(join(REAL_DATA, 'ts-thorax-crop/ct.nii.gz'));
const TINY_MODEL = join(SERVER_ROOT, '../../libs/model/testdata/tiny-model');

const API_KEY = 'bad-input-key-0123456789';
const SUBJECT = { age: '63', sex: 'M', height: '175', weight: '80' };
const MAX_UPLOAD_BYTES = 4 * 1024 * 1024;
/** Voxel cap of the test server; a .zip may then inflate to 8 bytes per voxel, 32 MB. */
const MAX_VOXELS = 4_000_000;
const ZIP_CAP_BYTES = 8 * MAX_VOXELS;
const IDLE_TIMEOUT_MS = 1_000;
const UPLOAD_TIMEOUT_MS = 3_000;

const workDir = mkdtempSync(join(tmpdir(), 'dlco-bad-input-'));
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
    limits: {
      maxUploadBytes: MAX_UPLOAD_BYTES,
      maxVoxels: MAX_VOXELS,
      uploadIdleTimeoutMs: IDLE_TIMEOUT_MS,
      uploadTimeoutMs: UPLOAD_TIMEOUT_MS,
    },
  });
  await server.ready;
});

afterAll(async () => {
  await server?.close();
  rmSync(workDir, { recursive: true, force: true });
});

const predictionsUrl = () => `${server.url}/v1/predictions`;
const authorization = { Authorization: `Bearer ${API_KEY}` };

function fieldParts(fields: Record<string, string> | [string, string][]): MultipartPart[] {
  const entries = Array.isArray(fields) ? fields : Object.entries(fields);
  return entries.map(([name, value]) => ({ name, value }));
}

/** Posts the metadata fields, then the given scan parts, as one multipart body. */
function postParts(
  files: { fileName?: string; data: Buffer; field?: string }[],
  fields: Record<string, string> | [string, string][] = SUBJECT,
  options: Partial<Parameters<typeof sendRaw>[1]> = {},
): Promise<RawOutcome> {
  const parts: MultipartPart[] = [
    ...fieldParts(fields),
    ...files.map((file) => ({
      name: file.field ?? 'scan',
      fileName: file.fileName,
      data: file.data,
    })),
  ];
  const { contentType, body } = multipartBody(parts);
  return sendRaw(predictionsUrl(), {
    headers: { ...authorization, 'Content-Type': contentType },
    body,
    ...options,
  });
}

const postScan = (data: Buffer, fileName = 'scan.bin', fields?: Record<string, string>) =>
  postParts([{ fileName, data }], fields);

/** Builds a zip of `bytes` zero bytes in one entry, which deflates to about 1/1000 of its size. */
function zerosZip(bytes: number, declaredSize?: number): Buffer {
  return zipArchive([{ name: 'series/zeros.dcm', data: Buffer.alloc(bytes), declaredSize }]);
}

function manyEntriesZip(entries: number): Buffer {
  const list = Array.from({ length: entries }, (_, n) => ({
    name: `f${n}.dcm`,
    data: Buffer.alloc(1),
  }));
  return zipArchive(list);
}

/** Sends a body whose only scan bytes are zeros, far above the size limit. */
function oversizedBody(contentLength: boolean): Promise<RawOutcome> {
  return postParts([{ fileName: 'scan.nii', data: Buffer.alloc(2 * MAX_UPLOAD_BYTES) }], SUBJECT, {
    contentLength,
    pieceBytes: 64 * 1024,
  });
}

interface CorpusRow {
  name: string;
  send: () => Promise<RawOutcome>;
  /** Status of the POST response. */
  status: number;
  /** Error code of the POST response, or of the failed job when `status` is 202. */
  code: string;
  /** Form field named in `details.field`, for metadata errors. */
  field?: string;
}

const ROWS: CorpusRow[] = [
  {
    name: 'text file named .nii.gz',
    send: () => postScan(Buffer.from('not a scan\n'.repeat(50)), 'scan.nii.gz'),
    status: 415,
    code: 'UPLOAD_TYPE_UNSUPPORTED',
  },
  {
    name: 'PNG image',
    send: () => postScan(pngHeader(), 'scan.png'),
    status: 415,
    code: 'UPLOAD_TYPE_UNSUPPORTED',
  },
  {
    name: 'gzip of text',
    send: () => postScan(gzipSync(Buffer.from('not a scan\n'.repeat(50))), 'scan.nii.gz'),
    status: 415,
    code: 'UPLOAD_TYPE_UNSUPPORTED',
  },
  {
    name: 'empty scan part',
    send: () => postScan(Buffer.alloc(0), 'scan.nii.gz'),
    status: 400,
    code: 'UPLOAD_INVALID',
  },
  {
    name: 'no scan part',
    send: () => postParts([]),
    status: 400,
    code: 'UPLOAD_INVALID',
  },
  {
    name: 'non-multipart JSON body',
    send: () =>
      sendRaw(predictionsUrl(), {
        headers: { ...authorization, 'Content-Type': 'application/json' },
        body: Buffer.from(JSON.stringify({ ...SUBJECT, scan: 'ct.nii.gz' })),
      }),
    status: 400,
    code: 'UPLOAD_INVALID',
  },
  {
    name: 'multipart without boundary',
    send: () =>
      sendRaw(predictionsUrl(), {
        headers: { ...authorization, 'Content-Type': 'multipart/form-data' },
        body: Buffer.from('age=63'),
      }),
    status: 400,
    code: 'UPLOAD_INVALID',
  },
  {
    name: 'multipart body cut before its end',
    send: () => {
      const { contentType, body } = multipartBody([
        ...fieldParts(SUBJECT),
        { name: 'scan', fileName: 'ct.nrrd', data: CT64_NRRD },
      ]);
      return sendRaw(predictionsUrl(), {
        headers: { ...authorization, 'Content-Type': contentType },
        body: body.subarray(0, body.length - 100),
      });
    },
    status: 400,
    code: 'UPLOAD_INVALID',
  },
  {
    name: 'unknown field name',
    send: () => postScan(CT64_NRRD, 'ct.nrrd', { ...SUBJECT, patient_name: 'DOE^JANE' }),
    status: 400,
    code: 'UPLOAD_FIELD_UNKNOWN',
    field: 'patient_name',
  },
  {
    name: 'two age fields',
    send: () =>
      postParts([{ fileName: 'ct.nrrd', data: CT64_NRRD }], [
        ...Object.entries(SUBJECT),
        ['age', '64'],
      ]),
    status: 400,
    code: 'UPLOAD_FIELD_REPEATED',
    field: 'age',
  },
  {
    name: 'scan in another file field',
    send: () => postParts([{ fileName: 'ct.nrrd', data: CT64_NRRD, field: 'image' }]),
    status: 400,
    code: 'UPLOAD_INVALID',
  },
  {
    name: 'file name with a leading dot',
    send: () => postScan(CT64_NRRD, '.ct.nrrd'),
    status: 400,
    code: 'UPLOAD_FILE_NAME_INVALID',
  },
  {
    name: 'missing sex',
    send: () => postScan(CT64_NRRD, 'ct.nrrd', { age: '63', height: '175', weight: '80' }),
    status: 400,
    code: 'METADATA_INVALID',
    field: 'sex',
  },
  {
    name: 'age not a number',
    send: () => postScan(CT64_NRRD, 'ct.nrrd', { ...SUBJECT, age: 'sixty' }),
    status: 400,
    code: 'METADATA_INVALID',
    field: 'age',
  },
  {
    name: 'age in hex 0x3F',
    send: () => postScan(CT64_NRRD, 'ct.nrrd', { ...SUBJECT, age: '0x3F' }),
    status: 400,
    code: 'METADATA_INVALID',
    field: 'age',
  },
  {
    name: 'height with exponent 1e2',
    send: () => postScan(CT64_NRRD, 'ct.nrrd', { ...SUBJECT, height: '1e2' }),
    status: 400,
    code: 'METADATA_INVALID',
    field: 'height',
  },
  {
    name: 'weight in binary 0b1010000',
    send: () => postScan(CT64_NRRD, 'ct.nrrd', { ...SUBJECT, weight: '0b1010000' }),
    status: 400,
    code: 'METADATA_INVALID',
    field: 'weight',
  },
  {
    name: 'age padded with a tab',
    send: () => postScan(CT64_NRRD, 'ct.nrrd', { ...SUBJECT, age: '\t63' }),
    status: 400,
    code: 'METADATA_INVALID',
    field: 'age',
  },
  {
    name: 'hb with inner space',
    send: () => postScan(CT64_NRRD, 'ct.nrrd', { ...SUBJECT, hb: '1 4' }),
    status: 400,
    code: 'METADATA_INVALID',
    field: 'hb',
  },
  {
    name: 'cohb Infinity',
    send: () => postScan(CT64_NRRD, 'ct.nrrd', { ...SUBJECT, cohb: 'Infinity' }),
    status: 400,
    code: 'METADATA_INVALID',
    field: 'cohb',
  },
  {
    name: 'age 0 years',
    send: () => postScan(CT64_NRRD, 'ct.nrrd', { ...SUBJECT, age: '0' }),
    status: 422,
    code: 'METADATA_INVALID',
    field: 'age',
  },
  {
    name: 'age 300 years',
    send: () => postScan(CT64_NRRD, 'ct.nrrd', { ...SUBJECT, age: '300' }),
    status: 422,
    code: 'METADATA_INVALID',
    field: 'age',
  },
  {
    name: 'height 1.75 given in metres',
    send: () => postScan(CT64_NRRD, 'ct.nrrd', { ...SUBJECT, height: '1.75' }),
    status: 422,
    code: 'METADATA_INVALID',
    field: 'height',
  },
  {
    name: 'height 1750 given in mm',
    send: () => postScan(CT64_NRRD, 'ct.nrrd', { ...SUBJECT, height: '1750' }),
    status: 422,
    code: 'METADATA_INVALID',
    field: 'height',
  },
  {
    name: 'weight 0 kg',
    send: () => postScan(CT64_NRRD, 'ct.nrrd', { ...SUBJECT, weight: '0' }),
    status: 422,
    code: 'METADATA_INVALID',
    field: 'weight',
  },
  {
    name: 'sex spelled male',
    send: () => postScan(CT64_NRRD, 'ct.nrrd', { ...SUBJECT, sex: 'male' }),
    status: 422,
    code: 'METADATA_INVALID',
    field: 'sex',
  },
  {
    name: 'hb 140 given in g/L',
    send: () => postScan(CT64_NRRD, 'ct.nrrd', { ...SUBJECT, hb: '140' }),
    status: 422,
    code: 'METADATA_INVALID',
    field: 'hb',
  },
  {
    name: 'never-smoker with pack-years',
    send: () =>
      postScan(CT64_NRRD, 'ct.nrrd', { ...SUBJECT, smoking: 'never', pack_years: '20' }),
    status: 422,
    code: 'METADATA_INVALID',
    field: 'pack_years',
  },
  {
    name: 'zip bomb above the byte cap',
    send: () => postScan(zerosZip(ZIP_CAP_BYTES + 8 * 1024 * 1024), 'series.zip'),
    status: 422,
    code: 'INPUT_TOO_LARGE',
  },
  {
    name: 'zip entry with ..',
    send: () =>
      postScan(zipArchive([{ name: '../escape.dcm', data: CT64_SLICE }]), 'series.zip'),
    status: 422,
    code: 'ZIP_INVALID',
  },
  {
    name: 'zip entry with an absolute path',
    send: () =>
      postScan(zipArchive([{ name: '/tmp/escape.dcm', data: CT64_SLICE }]), 'series.zip'),
    status: 422,
    code: 'ZIP_INVALID',
  },
  {
    name: 'zip with too many entries',
    send: () => postScan(manyEntriesZip(20_001), 'series.zip'),
    status: 422,
    code: 'INPUT_TOO_LARGE',
  },
  {
    name: 'NRRD data file outside the upload',
    send: () =>
      postParts([
        { fileName: 'ct.nhdr', data: detachedNrrdHeader(CT64_NRRD, '../../../etc/hostname') },
        { fileName: 'hostname', data: splitNrrd(CT64_NRRD).voxels },
      ]),
    status: 400,
    code: 'UPLOAD_DATA_FILE_INVALID',
  },
  {
    name: 'MetaImage data file as absolute path',
    send: () =>
      postScan(
        Buffer.from('ObjectType = Image\nNDims = 3\nDimSize = 2 2 2\nElementType = MET_SHORT\n' +
          'ElementDataFile = /etc/hostname\n'),
        'ct.mhd',
      ),
    status: 400,
    code: 'UPLOAD_DATA_FILE_INVALID',
  },
  {
    name: 'two parts with the same name',
    send: () =>
      postParts([
        { fileName: 'IMG0001.dcm', data: CT64_SLICE },
        { fileName: 'img0001.dcm', data: CT64_SLICE },
      ]),
    status: 400,
    code: 'UPLOAD_FILE_NAME_DUPLICATE',
  },
  {
    name: 'body over the limit with Content-Length',
    send: () => oversizedBody(true),
    status: 413,
    code: 'UPLOAD_TOO_LARGE',
  },
  {
    name: 'body over the limit, chunked',
    send: () => oversizedBody(false),
    status: 413,
    code: 'UPLOAD_TOO_LARGE',
  },
  {
    name: 'upload that stalls mid-body',
    send: () =>
      postParts([{ fileName: 'ct.nrrd', data: CT64_NRRD }], SUBJECT, { stallAfterBytes: 2000 }),
    status: 408,
    code: 'UPLOAD_TIMEOUT',
  },
  {
    name: 'upload trickled byte by byte',
    send: () =>
      postParts([{ fileName: 'ct.nrrd', data: CT64_NRRD }], SUBJECT, {
        pieceBytes: 16,
        pauseMs: 50,
      }),
    status: 408,
    code: 'UPLOAD_TIMEOUT',
  },
  // Header checks before the job is queued, with the code the preprocessing reader gives.
  {
    name: 'truncated gzip',
    send: () => postScan(THORAX_NIFTI_GZ.subarray(0, 200_000), 'ct.nii.gz'),
    status: 422,
    code: 'INPUT_CORRUPT',
  },
  {
    name: '4-D volume with 3 time points',
    send: () => {
      const data = new Int16Array(32 * 32 * 20 * 3).fill(-1000);
      return postScan(niftiInt16({ dims: [32, 32, 20, 3], spacingMm: [4, 4, 5, 1], data }));
    },
    status: 422,
    code: 'INPUT_NOT_3D',
  },
  {
    name: '4-D volume in a .nii.gz',
    send: () => {
      const data = new Int16Array(32 * 32 * 20 * 3).fill(-1000);
      const nifti = niftiInt16({ dims: [32, 32, 20, 3], spacingMm: [4, 4, 5, 1], data });
      return postScan(gzipSync(nifti), 'ct.nii.gz');
    },
    status: 422,
    code: 'INPUT_NOT_3D',
  },
  {
    name: '2-D NIfTI image',
    send: () => {
      const data = new Int16Array(64 * 64).fill(-1000);
      return postScan(niftiInt16({ dims: [64, 64], spacingMm: [1, 1], data }), 'slice.nii');
    },
    status: 422,
    code: 'INPUT_NOT_3D',
  },
  {
    name: 'header declaring 4096³ voxels',
    send: () => postScan(niftiInt16({ dims: [4096, 4096, 4096], spacingMm: [1, 1, 1] })),
    status: 422,
    code: 'INPUT_TOO_LARGE',
  },
  {
    name: '.nii shorter than its header declares',
    send: () => {
      const data = new Int16Array(32 * 32 * 20).fill(-1000);
      const nifti = niftiInt16({ dims: [32, 32, 20], spacingMm: [4, 4, 5], data });
      return postScan(nifti.subarray(0, nifti.length - 1000), 'ct.nii');
    },
    status: 422,
    code: 'INPUT_CORRUPT',
  },
  {
    name: 'NRRD with 2 time points',
    send: () =>
      postScan(
        Buffer.concat([
          Buffer.from('NRRD0004\ntype: short\ndimension: 4\nsizes: 8 8 8 2\nencoding: raw\n' +
            'endian: little\n\n'),
          Buffer.alloc(8 * 8 * 8 * 2 * 2),
        ]),
        'ct.nrrd',
      ),
    status: 422,
    code: 'INPUT_NOT_3D',
  },
  {
    name: 'MetaImage shorter than its header declares',
    send: () =>
      postScan(
        Buffer.concat([
          Buffer.from('ObjectType = Image\nNDims = 3\nDimSize = 16 16 16\n' +
            'ElementType = MET_SHORT\nElementDataFile = LOCAL\n'),
          Buffer.alloc(16 * 16 * 8 * 2),
        ]),
        'ct.mha',
      ),
    status: 422,
    code: 'INPUT_CORRUPT',
  },
  {
    name: 'detached NRRD header declaring 4096³ voxels',
    send: () =>
      postParts([
        {
          fileName: 'ct.nhdr',
          data: Buffer.from('NRRD0004\ntype: short\ndimension: 3\nsizes: 4096 4096 4096\n' +
            'encoding: raw\nendian: little\ndata file: ct.raw\n\n'),
        },
        { fileName: 'ct.raw', data: Buffer.alloc(1024) },
      ]),
    status: 422,
    code: 'INPUT_TOO_LARGE',
  },
  // Rows with status 202 are accepted uploads whose job fails in preprocessing, with the
  // code and the 422 status that `dlco predict` gives for the same file.
  {
    name: 'soft tissue without lungs',
    send: () => postScan(niftiInt16(softTissueVolume()), 'body.nii'),
    status: 202,
    code: 'LUNGS_NOT_FOUND',
  },
  {
    name: 'zip bomb with a false size header',
    send: () => postScan(zerosZip(ZIP_CAP_BYTES + 8 * 1024 * 1024, 1000), 'series.zip'),
    status: 202,
    code: 'ZIP_INVALID',
  },
  {
    name: 'nested zip only',
    send: () => {
      const inner = zipArchive([{ name: 'IMG0001.dcm', data: CT64_SLICE }]);
      return postScan(zipArchive([{ name: 'inner.zip', data: inner }]), 'outer.zip');
    },
    status: 202,
    code: 'DICOM_NO_IMAGES',
  },
  {
    name: 'DICOM series of one slice',
    send: () => postScan(CT64_SLICE, 'IMG0001.dcm'),
    status: 202,
    code: 'INPUT_TOO_FEW_SLICES',
  },
];

/** Polls a job until it is done or failed. */
async function waitForJob(id: string, timeoutMs = 120_000): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const response = await fetch(`${predictionsUrl()}/${id}`, { headers: authorization });
    const job = (await response.json()) as Record<string, any>;
    if (job.state === 'done' || job.state === 'failed') return job;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`job ${id} did not finish within ${timeoutMs} ms`);
}

async function expectHealthy(): Promise<void> {
  const response = await fetch(`${server.url}/healthz`);
  expect(response.status).toBe(200);
}

function jobFolders(): string[] {
  return readdirSync(join(dataDir, 'jobs'));
}

/**
 * Waits up to 3 s for the job folders to number `expected`, because the folder of an aborted
 * upload is removed only once the server sees the abort.
 */
async function settledJobFolders(expected: number): Promise<string[]> {
  const deadline = Date.now() + 3_000;
  while (jobFolders().length !== expected && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return jobFolders();
}

describe('bad-input corpus', () => {
  it('has at least 25 cases', () => {
    expect(ROWS.length).toBeGreaterThanOrEqual(25);
  });

  it.each(ROWS.map((row) => [row.name, row] as const))(
    'BAD CALL - %s',
    async (_name, row) => {
      const before = jobFolders().length;
      const outcome = await row.send();
      expect(outcome.kind).toBe('response');
      if (outcome.kind !== 'response') return;
      expect(outcome.status, outcome.body).toBe(row.status);
      const body = JSON.parse(outcome.body);
      if (row.status === 202) {
        const job = await waitForJob(body.id);
        expect(job.state).toBe('failed');
        expect(job.error.code, job.error.message).toBe(row.code);
        expect(job.errorStatus).toBe(422);
      } else {
        expect(body.error.code, body.error.message).toBe(row.code);
        expect(body.error.message.length).toBeGreaterThan(20);
        if (row.field !== undefined) expect(body.error.details.field).toBe(row.field);
        expect(await settledJobFolders(before)).toHaveLength(before);
      }
      await expectHealthy();
    },
    60_000,
  );
});

describe('timeouts and aborts', () => {
  it('trickled upload ends near the total timeout', async () => {
    const outcome = await postParts([{ fileName: 'ct.nrrd', data: CT64_NRRD }], SUBJECT, {
      pieceBytes: 16,
      pauseMs: 50,
    });
    expect(outcome.kind).toBe('response');
    if (outcome.kind !== 'response') return;
    expect(outcome.status).toBe(408);
    expect(outcome.headers.connection).toBe('close');
    expect(outcome.elapsedMs).toBeGreaterThanOrEqual(UPLOAD_TIMEOUT_MS - 100);
    expect(outcome.elapsedMs).toBeLessThan(UPLOAD_TIMEOUT_MS + 2_000);
  });

  it('stalled upload ends near the idle timeout', async () => {
    const outcome = await postParts([{ fileName: 'ct.nrrd', data: CT64_NRRD }], SUBJECT, {
      stallAfterBytes: 2000,
    });
    expect(outcome.kind).toBe('response');
    if (outcome.kind !== 'response') return;
    expect(outcome.status).toBe(408);
    expect(outcome.elapsedMs).toBeGreaterThanOrEqual(IDLE_TIMEOUT_MS - 100);
    expect(outcome.elapsedMs).toBeLessThan(IDLE_TIMEOUT_MS + 2_000);
  });

  it('BAD CALL - aborted upload leaves no files', async () => {
    const before = jobFolders().length;
    const outcome = await postParts([{ fileName: 'ct.nrrd', data: CT64_NRRD }], SUBJECT, {
      abortAfterBytes: CT64_NRRD.length / 2,
      pieceBytes: 16 * 1024,
      pauseMs: 5,
    });
    expect(outcome.kind).toBe('aborted');
    expect(await settledJobFolders(before)).toHaveLength(before);
    await expectHealthy();
  });

  it('server accepts a valid upload afterwards', async () => {
    const outcome = await postScan(CT64_NRRD, 'ct.nrrd');
    expect(outcome.kind).toBe('response');
    if (outcome.kind !== 'response') return;
    expect(outcome.status).toBe(202);
  });
});

describe('files left on disk', () => {
  it('only accepted jobs have folders, without temporary files', async () => {
    for (const id of jobFolders()) {
      const response = await fetch(`${predictionsUrl()}/${id}`, { headers: authorization });
      expect(response.status, id).toBe(200);
      const job = await waitForJob(id);
      expect(['done', 'failed']).toContain(job.state);
      const entries = readdirSync(join(dataDir, 'jobs', id), { recursive: true }) as string[];
      const leftovers = entries.filter((entry) => /(^|\/)(part-\d+|dlco-scan-[^/]*)$/.test(entry));
      expect(leftovers, id).toEqual([]);
    }
  });
});

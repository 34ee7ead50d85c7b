import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

const CLI_ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const DLCO_BIN = join(CLI_ROOT, 'bin/dlco.js');
const TINY_MODEL = join(CLI_ROOT, '../../libs/model/testdata/tiny-model');

const workDir = mkdtempSync(join(tmpdir(), 'dlco-cli-serve-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

function spawnServe(env: Record<string, string | undefined>) {
  const { DLCO_API_KEYS: _keys, ...inherited } = process.env;
  return spawn(
    process.execPath,
    [
      DLCO_BIN,
      'serve',
      '--port',
      '0',
      '--data-dir',
      join(workDir, 'data'),
      '--model',
      TINY_MODEL,
    ],
    { env: { ...inherited, ...env } },
  );
}

describe('dlco serve', () => {
  it('EXPECTED FAILURE - no API keys', async () => {
    const child = spawnServe({});
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(2);
    expect(stderr).toContain('DLCO_API_KEYS');
  });

  it('EXPECTED FAILURE - API keys of separators only', async () => {
    const child = spawnServe({ DLCO_API_KEYS: ' , ,' });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(2);
    expect(stderr).toContain('DLCO_API_KEYS contains no usable key');
  });

  it('serves healthz on loopback and stops on SIGTERM', async () => {
    const child = spawnServe({ DLCO_API_KEYS: 'key-a-0123456789,key-b-0123456789' });
    let stderr = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
        if (match !== null) resolve(match[1]);
      });
      child.on('close', (code) => reject(new Error(`dlco serve exited ${code}: ${stderr}`)));
    });
    try {
      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(200);
      const authorized = await fetch(`${url}/v1/predictions/none`, {
        headers: { Authorization: 'Bearer key-b-0123456789' },
      });
      expect(authorized.status).toBe(404);
    } finally {
      child.kill('SIGTERM');
    }
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    expect(stderr).not.toContain('key-a');
    expect(stderr).not.toContain('key-b');
  });
});

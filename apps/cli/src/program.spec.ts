import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

const DLCO_BIN = join(dirname(fileURLToPath(import.meta.url)), '../bin/dlco.js');

function runDlco(args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  return new Promise((resolvePromise) => {
    execFile(process.execPath, [DLCO_BIN, ...args], (error, stdout, stderr) => {
      let code = 0;
      if (error !== null) code = typeof error.code === 'number' ? error.code : -1;
      resolvePromise({ code, stderr, stdout });
    });
  });
}

function count(text: string, part: string): number {
  return text.split(part).length - 1;
}

describe('option errors', () => {
  it.each([
    [['--shard', '0/3'], "'--shard <i/n>' argument '0/3'", 'Expected I/N'],
    [['--concurrency', 'x'], "'--concurrency <k>' argument 'x'", 'Expected a whole number >= 1.'],
    [['--threads', '0'], "'--threads <n>' argument '0'", 'Expected a whole number >= 1.'],
  ])('BAD CALL - %j reads once', async (flags, option, expected) => {
    const run = await runDlco(['batch', 'manifest.csv', '--out', 'out', ...flags]);

    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(option);
    expect(run.stderr).toContain(expected);
    expect(count(run.stderr, 'invalid')).toBe(1);
    expect(count(run.stderr, `'${flags[1]}'`)).toBe(1);
  });
});

describe('dlco predict --help', () => {
  it('says what is printed and when files are written', async () => {
    const run = await runDlco(['predict', '--help']);
    const help = run.stdout.replace(/\s+/g, ' ');

    expect(run.code).toBe(0);
    expect(help).toContain('Prints a summary');
    expect(help).toContain('Files are written only with --out');
    expect(help).toContain('without it nothing is written');
    expect(help).toContain('--no-file-name');
  });
});

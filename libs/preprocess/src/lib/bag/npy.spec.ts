import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { decodeNpy, encodeNpy, formatNpyHeader } from './npy.ts';

const PYTHON = '/usr/bin/python3';
const numpyCheck = spawnSync(PYTHON, ['-c', 'import numpy'], { encoding: 'utf8' });
const numpyMissingReason =
  numpyCheck.status === 0
    ? undefined
    : `${PYTHON} with numpy is not available (${numpyCheck.error?.message ?? numpyCheck.stderr.trim()})`;
if (numpyMissingReason !== undefined) {
  console.warn(`skipping numpy.load checks: ${numpyMissingReason}`);
}

const workDir = mkdtempSync(join(tmpdir(), 'npy-spec-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

function headerText(bytes: Uint8Array): string {
  const length = bytes[8] | (bytes[9] << 8);
  return new TextDecoder('latin1').decode(bytes.subarray(10, 10 + length));
}

describe('encodeNpy', () => {
  it('writes the numpy magic and version 1.0', () => {
    const bytes = encodeNpy(new Int16Array(8), [2, 4]);

    expect(Array.from(bytes.subarray(0, 8))).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  });

  it('writes the header dict numpy writes', () => {
    const bytes = encodeNpy(new Int16Array(3 * 16 ** 3), [3, 16, 16, 16]);
    const header = headerText(bytes);

    expect(header.trimEnd()).toBe(
      "{'descr': '<i2', 'fortran_order': False, 'shape': (3, 16, 16, 16), }",
    );
    expect(header.endsWith('\n')).toBe(true);
    expect((10 + header.length) % 64).toBe(0);
    expect(bytes.length).toBe(10 + header.length + 3 * 16 ** 3 * 2);
  });

  it('writes one-axis shapes with a trailing comma', () => {
    expect(formatNpyHeader('<f4', [5])).toContain("'shape': (5,), }");
  });

  it('writes dtypes for every supported array type', () => {
    expect(headerText(encodeNpy(new Uint8Array(1), [1]))).toContain("'descr': '|u1'");
    expect(headerText(encodeNpy(new Float32Array(1), [1]))).toContain("'descr': '<f4'");
    expect(headerText(encodeNpy(new Int32Array(1), [1]))).toContain("'descr': '<i4'");
  });

  it('writes data little-endian', () => {
    const bytes = encodeNpy(new Int16Array([-1000, 1]), [2]);
    const data = bytes.subarray(bytes.length - 4);

    expect(Array.from(data)).toEqual([0x18, 0xfc, 0x01, 0x00]);
  });

  it('BAD CALL - rejects a shape that does not match the data', () => {
    expect(() => encodeNpy(new Int16Array(7), [2, 4])).toThrow(RangeError);
  });
});

describe('decodeNpy', () => {
  it('round-trips every supported dtype', () => {
    const cases = [
      { data: new Int16Array([-3024, -1000, 0, 32767, -32768, 40]), shape: [2, 3] },
      { data: new Uint8Array([0, 1, 2, 255]), shape: [4] },
      { data: new Float32Array([1.5, -0.25, Number.NaN]), shape: [3, 1] },
      { data: new Int32Array([-5, 2 ** 31 - 1]), shape: [1, 2] },
      { data: new Int16Array(0), shape: [0, 16, 16, 16] },
    ];
    for (const { data, shape } of cases) {
      const decoded = decodeNpy(encodeNpy(data, shape));

      expect(decoded.shape).toEqual(shape);
      expect(decoded.data.constructor).toBe(data.constructor);
      expect(Array.from(decoded.data)).toEqual(Array.from(data));
    }
  });

  it('EXPECTED FAILURE - rejects Fortran order', () => {
    const bytes = encodeNpy(new Int16Array(4), [2, 2]);
    const text = new TextDecoder('latin1')
      .decode(bytes)
      .replace("'fortran_order': False", "'fortran_order': True ");
    const patched = Uint8Array.from(text, (character) => character.charCodeAt(0));

    expect(() => decodeNpy(patched)).toThrow(/Fortran order/);
  });

  it('EXPECTED FAILURE - rejects truncated data', () => {
    const bytes = encodeNpy(new Int16Array(4), [2, 2]);

    expect(() => decodeNpy(bytes.subarray(0, bytes.length - 1))).toThrow(/data bytes/);
  });

  it('EXPECTED FAILURE - rejects a file without the magic string', () => {
    expect(() => decodeNpy(new Uint8Array(64))).toThrow(/magic/);
  });
});

describe.skipIf(numpyMissingReason !== undefined)('numpy.load of encodeNpy output', () => {
  it('reads values, dtype and shape numpy expects', () => {
    const data = new Int16Array(3 * 16 ** 3).map((_, index) => (index % 2000) - 1000);
    const path = join(workDir, 'hu.npy');
    writeFileSync(path, encodeNpy(data, [3, 16, 16, 16]));

    const script = [
      'import sys, numpy as np',
      'a = np.load(sys.argv[1])',
      'print(a.dtype.str, a.shape, bool(a.flags.c_contiguous), int(a[0, 0, 0, 1]), int(a[2, 15, 15, 15]))',
    ].join('\n');
    const output = execFileSync(PYTHON, ['-c', script, path], { encoding: 'utf8' }).trim();

    const last = data[data.length - 1];
    expect(output).toBe(`<i2 (3, 16, 16, 16) True -999 ${last}`);
  });

  it('decodes a file numpy wrote', () => {
    const path = join(workDir, 'from-numpy.npy');
    const script = [
      'import sys, numpy as np',
      'np.save(sys.argv[1], np.arange(6, dtype="<f4").reshape(2, 3) / 4)',
    ].join('\n');
    execFileSync(PYTHON, ['-c', script, path]);

    const bytes = new Uint8Array(readFileSync(path));
    const decoded = decodeNpy(bytes);

    expect(decoded.dtype).toBe('<f4');
    expect(decoded.shape).toEqual([2, 3]);
    expect(Array.from(decoded.data)).toEqual([0, 0.25, 0.5, 0.75, 1, 1.25]);
  });
});

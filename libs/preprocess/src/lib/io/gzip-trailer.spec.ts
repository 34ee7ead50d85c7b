import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { gzipTrailerMatches } from './gzip-trailer.ts';
import { makeTempDir, removeTempDir } from './test-helpers/fixtures.ts';

let folder: string;

beforeEach(async () => {
  folder = await makeTempDir();
});

afterEach(async () => {
  await removeTempDir(folder);
});

const content = Uint8Array.from({ length: 5000 }, (_, index) => (index * 37) % 251);

async function writeBytes(name: string, bytes: Uint8Array): Promise<string> {
  const file = path.join(folder, name);
  await writeFile(file, bytes);
  return file;
}

describe('gzipTrailerMatches', () => {
  it('accepts the content split into parts', async () => {
    const file = await writeBytes('whole.gz', gzipSync(content));
    expect(await gzipTrailerMatches(file, [content.subarray(0, 352), content.subarray(352)])).toBe(
      true,
    );
  });

  it('rejects a truncated file', async () => {
    const compressed = gzipSync(content);
    const file = await writeBytes('truncated.gz', compressed.subarray(0, compressed.length - 40));
    expect(await gzipTrailerMatches(file, [content])).toBe(false);
  });

  it('rejects content with one changed byte', async () => {
    const file = await writeBytes('changed.gz', gzipSync(content));
    const changed = content.slice();
    changed[2500] ^= 1;
    expect(await gzipTrailerMatches(file, [changed])).toBe(false);
  });

  it('rejects content of another length', async () => {
    const file = await writeBytes('short.gz', gzipSync(content));
    expect(await gzipTrailerMatches(file, [content.subarray(0, 4999)])).toBe(false);
  });

  it('rejects a file shorter than a trailer', async () => {
    const file = await writeBytes('tiny.gz', Uint8Array.from([0x1f, 0x8b, 8]));
    expect(await gzipTrailerMatches(file, [])).toBe(false);
  });
});

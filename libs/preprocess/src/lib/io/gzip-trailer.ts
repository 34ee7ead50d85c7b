import { open } from 'node:fs/promises';
import { crc32 } from 'node:zlib';

/** Bytes of the gzip member trailer: CRC-32, then ISIZE (RFC 1952), both little-endian. */
const TRAILER_BYTES = 8;

/**
 * Checks whether `parts`, concatenated, are the whole uncompressed content that the trailer at
 * the end of a single-member gzip file describes: their CRC-32 and their length modulo 2^32
 * must equal the trailer's CRC32 and ISIZE fields.
 *
 * A truncated file ends inside the deflate data, so its last 8 bytes match both fields only by
 * chance (an estimated 1 in 2^64 for random bytes). A false result is not proof of damage,
 * because a multi-member file or one with trailing data also fails, so callers fall back to
 * inflating the whole file.
 */
export async function gzipTrailerMatches(file: string, parts: Uint8Array[]): Promise<boolean> {
  const handle = await open(file, 'r');
  let trailer: Buffer;
  try {
    const { size } = await handle.stat();
    if (size < TRAILER_BYTES) return false;
    trailer = Buffer.alloc(TRAILER_BYTES);
    const { bytesRead } = await handle.read(trailer, 0, TRAILER_BYTES, size - TRAILER_BYTES);
    if (bytesRead !== TRAILER_BYTES) return false;
  } finally {
    await handle.close();
  }
  const length = parts.reduce((total, part) => total + part.byteLength, 0);
  if (trailer.readUInt32LE(4) !== length % 2 ** 32) return false;
  let checksum = 0;
  for (const part of parts) checksum = crc32(part, checksum);
  return checksum === trailer.readUInt32LE(0);
}

import { createHash, timingSafeEqual } from 'node:crypto';

import type { MiddlewareHandler } from 'hono';

import { HttpError } from './errors.ts';

/** Minimum length of an API key, in characters. */
export const MIN_API_KEY_LENGTH = 16;

/**
 * Returns the SHA-256 digests of the accepted API keys; the keys themselves are not kept.
 *
 * @throws RangeError when no key is given, or a key is shorter than `MIN_API_KEY_LENGTH` or
 *   contains whitespace. The message gives the key's position in the list, never the key.
 */
export function hashApiKeys(keys: readonly string[]): Buffer[] {
  if (keys.every((key) => key.trim() === '')) {
    throw new RangeError(
      'The API key list contains no usable key. Give at least one key of ' +
        `${MIN_API_KEY_LENGTH} or more characters without whitespace.`,
    );
  }
  keys.forEach((key, index) => {
    const position = `API key ${index + 1} of ${keys.length}`;
    if (/\s/.test(key)) {
      throw new RangeError(
        `${position} contains whitespace. Keys must not contain spaces, tabs or line breaks.`,
      );
    }
    if (key.length < MIN_API_KEY_LENGTH) {
      throw new RangeError(
        `${position} is shorter than ${MIN_API_KEY_LENGTH} characters. Use a longer random ` +
          'key, for example the output of `openssl rand -hex 32`.',
      );
    }
  });
  return keys.map(sha256);
}

/**
 * Requires `Authorization: Bearer KEY` with one of the keys: 401 `UNAUTHORIZED` without the
 * header, 403 `FORBIDDEN` with another key or a value of another form. Digests are compared
 * with `timingSafeEqual`, and every stored digest is compared, so the time taken does not
 * reveal which key nearly matched.
 */
export function bearerAuth(keyDigests: readonly Buffer[]): MiddlewareHandler {
  return async (c, next) => {
    const header = (c.req.header('Authorization') ?? '').trim();
    if (header === '') {
      throw new HttpError(401, 'UNAUTHORIZED', 'Missing API key: send Authorization: Bearer KEY.', {
        headers: { 'WWW-Authenticate': 'Bearer' },
      });
    }
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (match === null) {
      // A value was sent, so the client tried to authenticate: the header is invalid, not missing.
      throw new HttpError(
        403,
        'FORBIDDEN',
        'Invalid Authorization header: expected the form Bearer KEY, with one key and no other ' +
          'words.',
      );
    }
    const digest = sha256(match[1]);
    let accepted = false;
    for (const known of keyDigests) accepted = timingSafeEqual(digest, known) || accepted;
    if (!accepted) throw new HttpError(403, 'FORBIDDEN', 'The API key is not valid.');
    c.set('apiKeyId', apiKeyId(digest));
    await next();
  };
}

/**
 * Id of an API key: the first 16 hex digits of its SHA-256 digest. Jobs store it as their
 * owner, so the database never contains a key.
 */
export function apiKeyId(digest: Buffer): string {
  return digest.toString('hex').slice(0, 16);
}

declare module 'hono' {
  interface ContextVariableMap {
    /** `apiKeyId` of the key that authenticated the request. */
    apiKeyId: string;
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

import { createHash, timingSafeEqual } from 'node:crypto';

import type { MiddlewareHandler } from 'hono';

import { HttpError } from './errors.ts';

/** SHA-256 digests of the accepted API keys; the keys themselves are not kept. */
export function hashApiKeys(keys: readonly string[]): Buffer[] {
  const usable = keys.map((key) => key.trim()).filter((key) => key !== '');
  if (usable.length === 0) throw new RangeError('At least one non-empty API key is required.');
  return usable.map(sha256);
}

/**
 * Requires `Authorization: Bearer KEY` with one of the keys: 401 `UNAUTHORIZED` without it and
 * 403 `FORBIDDEN` with another key. Digests are compared with `timingSafeEqual`, and every
 * stored digest is compared, so the time taken does not reveal which key nearly matched.
 */
export function bearerAuth(keyDigests: readonly Buffer[]): MiddlewareHandler {
  return async (c, next) => {
    const header = c.req.header('Authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match === null) {
      throw new HttpError(401, 'UNAUTHORIZED', 'Missing API key: send Authorization: Bearer KEY.', {
        headers: { 'WWW-Authenticate': 'Bearer' },
      });
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

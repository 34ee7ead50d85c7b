import { request as httpRequest } from 'node:http';

import type { RawResponse } from './http-helpers.ts';

/** A text field or a file part of `multipartBody`. */
export type MultipartPart =
  | { name: string; value: string }
  | { name: string; fileName?: string; data: Buffer };

/**
 * Encodes a multipart/form-data body byte for byte, so that tests control what clients such as
 * `FormData` would normalise: repeated fields, file names with paths or leading dots, parts
 * without a file name.
 */
export function multipartBody(parts: MultipartPart[]): { contentType: string; body: Buffer } {
  const boundary = `----dlco-raw-${Math.random().toString(16).slice(2)}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    let disposition = `form-data; name="${part.name}"`;
    if ('data' in part && part.fileName !== undefined) {
      disposition += `; filename="${part.fileName}"`;
    }
    let head = `--${boundary}\r\nContent-Disposition: ${disposition}\r\n`;
    if ('data' in part) head += 'Content-Type: application/octet-stream\r\n';
    chunks.push(Buffer.from(`${head}\r\n`));
    chunks.push('data' in part ? part.data : Buffer.from(part.value));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { contentType: `multipart/form-data; boundary=${boundary}`, body: Buffer.concat(chunks) };
}

/** Headers, body and sending pattern of a `sendRaw` request. */
export interface RawRequestOptions {
  headers: Record<string, string>;
  body: Buffer;
  /** Sends a Content-Length header (default); otherwise the body goes chunked. */
  contentLength?: boolean;
  /** Writes the body in pieces of this many bytes (default: all at once). */
  pieceBytes?: number;
  /** Pause between pieces in ms. */
  pauseMs?: number;
  /** Stops writing after this many body bytes and leaves the connection open. */
  stallAfterBytes?: number;
  /** Destroys the connection after this many body bytes. */
  abortAfterBytes?: number;
}

/** A response, or how the request ended without one. */
export type RawOutcome =
  | (RawResponse & { kind: 'response'; elapsedMs: number })
  | { kind: 'aborted' }
  | { kind: 'error'; message: string; elapsedMs: number };

/**
 * Posts `options.body` over a fresh connection, piece by piece as `options` sets, and resolves
 * with the response even when it arrives before the body is sent whole. A connection reset
 * without a response resolves as `error`, so that tests can tell a reset from a 4xx.
 */
export function sendRaw(url: string, options: RawRequestOptions): Promise<RawOutcome> {
  const headers = { ...options.headers };
  if (options.contentLength !== false) headers['Content-Length'] = String(options.body.length);
  const started = performance.now();
  return new Promise((resolve) => {
    const request = httpRequest(url, { method: 'POST', headers, agent: false });
    let settled = false;
    const settle = (outcome: RawOutcome) => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        settle({
          kind: 'response',
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          elapsedMs: performance.now() - started,
        });
        request.destroy();
      });
    });
    request.on('error', (error) => {
      // Writes fail once the server closes after its response; the response still settles.
      const elapsedMs = performance.now() - started;
      setTimeout(() => settle({ kind: 'error', message: error.message, elapsedMs }), 200);
    });

    const pieceBytes = options.pieceBytes ?? options.body.length;
    let sent = 0;
    const writeNext = () => {
      if (settled || request.destroyed) return;
      if (options.abortAfterBytes !== undefined && sent >= options.abortAfterBytes) {
        request.destroy();
        settle({ kind: 'aborted' });
        return;
      }
      if (options.stallAfterBytes !== undefined && sent >= options.stallAfterBytes) return;
      if (sent >= options.body.length) {
        request.end();
        return;
      }
      let end = Math.min(options.body.length, sent + pieceBytes);
      if (options.abortAfterBytes !== undefined) end = Math.min(end, options.abortAfterBytes);
      if (options.stallAfterBytes !== undefined) end = Math.min(end, options.stallAfterBytes);
      const piece = options.body.subarray(sent, end);
      sent = end;
      const next = () => setTimeout(writeNext, options.pauseMs ?? 0);
      if (request.write(piece)) next();
      else request.once('drain', next);
    };
    request.flushHeaders();
    writeNext();
  });
}

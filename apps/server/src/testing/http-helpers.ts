import { request as httpRequest } from 'node:http';
import { Writable } from 'node:stream';

import pino, { type Logger } from 'pino';

/** Creates a pino logger that keeps its JSON lines in `lines`, to check what the server logs. */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString('utf8'));
      callback();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

/** A multipart/form-data body split into the part before the file bytes and the part after. */
export interface MultipartFrame {
  contentType: string;
  head: Buffer;
  tail: Buffer;
}

/** Frames text fields and one `scan` file part around file bytes the caller streams. */
export function multipartFrame(fields: Record<string, string>, fileName: string): MultipartFrame {
  const boundary = `----dlco-test-${Date.now()}`;
  let head = '';
  for (const [name, value] of Object.entries(fields)) {
    head += `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  }
  head +=
    `--${boundary}\r\nContent-Disposition: form-data; name="scan"; filename="${fileName}"\r\n` +
    'Content-Type: application/octet-stream\r\n\r\n';
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    head: Buffer.from(head),
    tail: Buffer.from(`\r\n--${boundary}--\r\n`),
  };
}

/** Status, headers and body text of a raw HTTP response. */
export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * Posts a multipart upload whose file part is `fileBytes` zero bytes, written in 64 KiB
 * chunks, with or without a Content-Length header. Resolves with the response even when the
 * server responds before the upload ends; write errors after the response are expected then.
 */
export function postZeros(
  url: string,
  apiKey: string,
  fields: Record<string, string>,
  fileBytes: number,
  withContentLength: boolean,
): Promise<RawResponse> {
  const frame = multipartFrame(fields, 'scan.nii');
  const headers: Record<string, string> = {
    Authorization: `Bearer ${apiKey}`,
    'Content-Type': frame.contentType,
  };
  if (withContentLength) {
    headers['Content-Length'] = String(frame.head.length + fileBytes + frame.tail.length);
  }
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: 'POST', headers });
    let answered = false;
    request.on('response', (response) => {
      answered = true;
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    request.on('error', (error) => {
      if (!answered) reject(error);
    });

    const chunk = Buffer.alloc(64 * 1024);
    let left = fileBytes;
    const writeMore = (): void => {
      while (left > 0 && !answered && !request.destroyed) {
        const part = chunk.subarray(0, Math.min(chunk.length, left));
        left -= part.length;
        if (!request.write(part)) {
          request.once('drain', writeMore);
          return;
        }
      }
      if (left === 0 && !request.destroyed) request.end(frame.tail);
    };
    request.write(frame.head);
    writeMore();
  });
}

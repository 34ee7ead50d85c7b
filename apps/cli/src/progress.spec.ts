import { Writable } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { createScanProgress } from './progress.ts';

/** Builds a stream that records what is written, claiming to be a terminal or not. */
function recordingStream(isTTY: boolean): { stream: NodeJS.WriteStream; output: () => string } {
  const chunks: string[] = [];
  const writable = new Writable({
    write(chunk, _encoding, callback) {
      chunks.push(String(chunk));
      callback();
    },
  });
  Object.assign(writable, { isTTY, columns: 120, cursorTo() {}, clearLine() {}, moveCursor() {} });
  return { stream: writable as unknown as NodeJS.WriteStream, output: () => chunks.join('') };
}

describe('createScanProgress', () => {
  it('prints one line per scan without a terminal', () => {
    const { stream, output } = recordingStream(false);
    const progress = createScanProgress(2, stream);

    progress.advance('a', 'wrote 3 patches');
    progress.advance('b', 'skipped');
    progress.stop();

    expect(output()).toBe('[1/2] a: wrote 3 patches\n[2/2] b: skipped\n');
  });

  it('draws a bar on a terminal', () => {
    const { stream, output } = recordingStream(true);
    const progress = createScanProgress(2, stream);

    progress.advance('a', 'wrote 3 patches');
    progress.log('WARN a message');
    progress.advance('b', 'skipped');
    progress.stop();

    expect(output()).toContain('2/2 scans | b: skipped');
    expect(output()).toContain('\r\x1b[KWARN a message\n');
    expect(output()).not.toContain('[1/2]');
  });

  it('prints plain lines for a single scan on a terminal', () => {
    const { stream, output } = recordingStream(true);
    const progress = createScanProgress(1, stream);

    progress.advance('a', 'wrote 3 patches');

    expect(output()).toBe('[1/1] a: wrote 3 patches\n');
  });
});

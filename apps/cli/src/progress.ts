import cliProgress from 'cli-progress';

/** Reports progress over a list of scans. */
export interface ScanProgress {
  /** Records that scan `id` finished with a short status such as `wrote 31 patches`. */
  advance(id: string, status: string): void;
  /** Prints a line without breaking the bar. */
  log(line: string): void;
  stop(): void;
}

/**
 * Creates a progress reporter on `stream`: a cli-progress bar when the stream is a terminal and
 * there is more than one scan, otherwise one plain line per finished scan.
 *
 * @param label - command name shown at the start of the bar
 */
export function createScanProgress(
  total: number,
  stream: NodeJS.WriteStream = process.stderr,
  label = 'preprocess',
): ScanProgress {
  if (stream.isTTY === true && total > 1) {
    return createBarProgress(total, stream, label);
  }
  let done = 0;
  return {
    advance(id, status) {
      done++;
      stream.write(`[${done}/${total}] ${id}: ${status}\n`);
    },
    log(line) {
      stream.write(`${line}\n`);
    },
    stop() {},
  };
}

function createBarProgress(
  total: number,
  stream: NodeJS.WriteStream,
  label: string,
): ScanProgress {
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `${label} [{bar}] {value}/{total} scans | {status}`,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { status: 'starting' });
  return {
    advance(id, status) {
      bar.increment(1, { status: `${id}: ${status}` });
    },
    log(line) {
      // cli-progress redraws on the current line, so clear it before printing above the bar.
      stream.write(`\r\x1b[K${line}\n`);
      bar.render();
    },
    stop() {
      bar.stop();
    },
  };
}

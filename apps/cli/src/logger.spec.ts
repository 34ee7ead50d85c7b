import { describe, expect, it } from 'vitest';

import { createStderrLogger, parseLogLevel } from './logger.ts';

describe('createStderrLogger', () => {
  it('drops messages below the level', () => {
    const lines: string[] = [];
    const logger = createStderrLogger('warn', (line) => lines.push(line));

    logger.info({}, 'hidden');
    logger.warn({ id: 'scan-1', ms: 12 }, 'slow step');

    expect(lines).toEqual(['WARN slow step id=scan-1 ms=12\n']);
  });

  it('quotes values with spaces', () => {
    const lines: string[] = [];
    const logger = createStderrLogger('debug', (line) => lines.push(line));

    logger.debug({ path: '/a b/c.nrrd' }, 'reading');

    expect(lines).toEqual(['DEBUG reading path="/a b/c.nrrd"\n']);
  });
});

describe('parseLogLevel', () => {
  it('BAD CALL - names the flag for an unknown level', () => {
    expect(() => parseLogLevel('loud')).toThrow(/--log-level 'loud'/);
  });
});

import { describe, expect, it } from 'vitest';

import { createStderrLogger, holdWarnings, parseLogLevel } from './logger.ts';

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

describe('holdWarnings', () => {
  it('writes held warnings not shown elsewhere', () => {
    const lines: string[] = [];
    const held = holdWarnings(createStderrLogger('info', (line) => lines.push(line)));

    held.logger.warn({}, 'not Hb-corrected');
    held.logger.info({}, 'scan read');
    held.logger.warn({ reasons: 'apex' }, 'coverage incomplete');

    expect(lines).toEqual(['INFO scan read\n']);
    held.flush(['not Hb-corrected']);
    expect(lines).toEqual(['INFO scan read\n', 'WARN coverage incomplete reasons=apex\n']);
  });

  it('writes every warning once without a list', () => {
    const lines: string[] = [];
    const held = holdWarnings(createStderrLogger('warn', (line) => lines.push(line)));

    held.logger.warn({}, 'first');
    held.flush();
    held.flush();

    expect(lines).toEqual(['WARN first\n']);
  });
});

import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, hashIdentity, maskOwner, runLogger } from '../../shared/log.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, logger: createLogger({ level: 'debug', hashSalt: 'salt', destination }) };
}

describe('logging', () => {
  it('hashes user ids and emails and masks owner ids, at the top level and one level down', () => {
    const { lines, logger } = capture();
    logger.info(
      {
        userId: 'alice@example.com',
        reservation: { user_id: 'bob@example.com', ownerId: '0f3c1d2e-aaaa-bbbb-cccc-1234567890ab' },
      },
      'x',
    );
    const text = JSON.stringify(lines[0]);
    expect(text).not.toContain('alice@example.com');
    expect(text).not.toContain('bob@example.com');
    expect(text).not.toContain('0f3c1d2e-aaaa');
    expect(lines[0]!.userId).toBe(hashIdentity('alice@example.com', 'salt'));
    expect((lines[0]!.reservation as Record<string, unknown>).ownerId).toBe('****7890ab');
  });

  it('gives the same user the same hash, and different salts different hashes', () => {
    expect(hashIdentity('alice', 's1')).toBe(hashIdentity('alice', 's1'));
    expect(hashIdentity('alice', 's1')).not.toBe(hashIdentity('alice', 's2'));
    expect(hashIdentity('alice', 's1')).toMatch(/^h:[0-9a-f]{12}$/);
  });

  it('masks short owner ids completely', () => {
    expect(maskOwner('abc')).toBe('****');
    expect(maskOwner('1234567')).toBe('****234567');
  });

  it('carries function, run id and trigger on every line of a run logger, and errors under err', () => {
    const { lines, logger } = capture();
    const log = runLogger(logger, { fn: 'expire', runId: 'r-1', trigger: 'schedule' });
    log.error({ err: new Error('boom') }, 'failed');
    expect(lines[0]).toMatchObject({ fn: 'expire', runId: 'r-1', trigger: 'schedule', level: 'error', msg: 'failed' });
    expect((lines[0]!.err as { message: string; stack: string }).message).toBe('boom');
  });

  it('never logs passwords or tokens', () => {
    const { lines, logger } = capture();
    logger.info({ password: 'p', db: { password: 'q' }, token: 't' }, 'x');
    expect(JSON.stringify(lines[0])).not.toMatch(/"(p|q|t)"/);
  });

  it('honours the level', () => {
    const lines: string[] = [];
    const destination = new Writable({ write: (c, _e, d) => (lines.push(String(c)), d()) });
    const logger = createLogger({ level: 'warn', hashSalt: 's', destination });
    logger.info('hidden');
    logger.warn('shown');
    expect(lines).toHaveLength(1);
  });
});

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { actionLinks, formatMinutes } from '../../shared/actions/links.js';
import { TokenRejected, signActionToken, verifyActionToken } from '../../shared/actions/token.js';
import { loadConfig } from '../../shared/config.js';
import { Invalid } from '../../shared/errors.js';

const KEY = 'k'.repeat(40);
const now = new Date('2026-03-01T10:00:00Z');
const deadline = new Date('2026-03-01T10:30:00.123Z');
const noSecrets = join(tmpdir(), 'devenv-lifecycle-no-secrets-here');
const base = { DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db' };
const settings = {
  baseUrl: 'https://fn.example/function/extend/',
  signingKey: KEY,
  linkTtlMinutes: 60,
  defaultExtendMinutes: 120,
};

function configError(env: Record<string, string>): Invalid {
  try {
    loadConfig({ ...base, ...env }, { secretsDir: noSecrets });
  } catch (err) {
    if (err instanceof Invalid) return err;
    throw err;
  }
  throw new Error('expected the configuration to be rejected');
}

async function rejection(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof TokenRejected) return err.reason;
    throw err;
  }
  throw new Error('expected the token to be rejected');
}

describe('action settings', () => {
  it('reads the signing key from the secrets folder and defaults the policy', () => {
    const dir = mkdtempSync(join(tmpdir(), 'extend-secrets-'));
    writeFileSync(join(dir, 'action-signing-key'), `${KEY}\n`);
    const config = loadConfig({ ...base, ACTION_BASE_URL: 'https://fn.example/extend' }, { secretsDir: dir });
    expect(config.actions).toEqual({
      baseUrl: 'https://fn.example/extend',
      signingKey: KEY,
      linkTtlMinutes: 60,
      defaultExtendMinutes: 120,
      maxExtendMinutes: 480,
      maxExtensions: 5,
      maxLifetimeHours: 72,
      capacityRule: true,
      slackSigningSecret: undefined,
    });
  });

  it.each([
    [{ ACTION_BASE_URL: 'https://fn.example' }, 'ACTION_SIGNING_KEY'],
    [{ ACTION_SIGNING_KEY: 'short' }, 'ACTION_SIGNING_KEY'],
    [{ ACTION_BASE_URL: 'ftp://fn.example', ACTION_SIGNING_KEY: KEY }, 'ACTION_BASE_URL'],
    [{ ACTION_LINK_TTL_MINUTES: '0' }, 'ACTION_LINK_TTL_MINUTES'],
    [{ EXTEND_MAX_MINUTES: '100000' }, 'EXTEND_MAX_MINUTES'],
    [{ EXTEND_MAX_COUNT: '-1' }, 'EXTEND_MAX_COUNT'],
    [{ RESERVATION_MAX_LIFETIME_HOURS: '9000' }, 'RESERVATION_MAX_LIFETIME_HOURS'],
    [{ EXTEND_DEFAULT_MINUTES: '600', EXTEND_MAX_MINUTES: '300' }, 'EXTEND_DEFAULT_MINUTES'],
    [{ EXTEND_CAPACITY_RULE: 'maybe' }, 'EXTEND_CAPACITY_RULE'],
  ])('rejects %o naming %s', (env, field) => {
    expect(configError(env).issues.map((issue) => issue.field)).toContain(field);
  });
});

describe('actionLinks', () => {
  it('issues no links without a public base URL', async () => {
    expect(await actionLinks({ ...settings, baseUrl: undefined }, { reservationId: 'r-1', deadline, now })).toEqual([]);
  });

  it('issues one signed link per action, bound to the reservation, deadline and action', async () => {
    const links = await actionLinks(settings, { reservationId: 'r-1', deadline, now });
    expect(links.map((link) => [link.action, link.label])).toEqual([
      ['extend', 'Extend by 2h'],
      ['snooze', 'Snooze these warnings'],
      ['end-now', 'End now (work saved)'],
    ]);
    const claims = await Promise.all(
      links.map((link) => {
        expect(link.url.startsWith('https://fn.example/function/extend/a/')).toBe(true);
        expect(link.expiresAt).toEqual(new Date('2026-03-01T11:00:00Z'));
        return verifyActionToken(KEY, link.url.split('/a/')[1]!, now);
      }),
    );
    expect(claims.map((c) => [c.reservationId, c.action, c.deadline.toISOString(), c.minutes])).toEqual([
      ['r-1', 'extend', deadline.toISOString(), 120],
      ['r-1', 'snooze', deadline.toISOString(), undefined],
      ['r-1', 'end-now', deadline.toISOString(), undefined],
    ]);
    expect(new Set(claims.map((c) => c.jti)).size).toBe(3);
  });

  it('formats durations', () => {
    expect([formatMinutes(45), formatMinutes(60), formatMinutes(90)]).toEqual(['45m', '1h', '1h 30m']);
  });
});

describe('verifyActionToken', () => {
  const issue = () =>
    signActionToken(KEY, {
      reservationId: 'r-1',
      action: 'snooze',
      deadline,
      now,
      expiresAt: new Date(now.getTime() + 60_000),
    });

  it('refuses an expired token as expired', async () => {
    expect(await rejection(verifyActionToken(KEY, await issue(), new Date(now.getTime() + 61_000)))).toBe('expired');
  });

  it('refuses a tampered payload, another key and the none algorithm as invalid', async () => {
    const [header, payload, signature] = (await issue()).split('.');
    const forged = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), act: 'end-now' }),
    ).toString('base64url');
    expect(await rejection(verifyActionToken(KEY, `${header}.${forged}.${signature}`, now))).toBe('invalid');
    expect(await rejection(verifyActionToken('x'.repeat(40), await issue(), now))).toBe('invalid');
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.`;
    expect(await rejection(verifyActionToken(KEY, none, now))).toBe('invalid');
    expect(await rejection(verifyActionToken(KEY, 'not-a-token', now))).toBe('invalid');
  });

  it('refuses a genuine token whose claims do not describe an action', async () => {
    const odd = await new SignJWT({ act: 'extend', dl: deadline.toISOString() })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('devenv-lifecycle')
      .setAudience('devenv-lifecycle:extend')
      .setSubject('r-1')
      .setJti('j')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(KEY));
    expect(await rejection(verifyActionToken(KEY, odd, new Date()))).toBe('invalid');
  });
});

import { describe, expect, it } from 'vitest';
import { ageMinutes, selectLabs, verdict } from '../../functions/ending-watchdog/decide.js';
import type { EndingLab } from '../../functions/ending-watchdog/decide.js';

const now = new Date('2026-06-01T12:00:00Z');
const lab = (id: string, minutesAgo: number | null): EndingLab => ({
  id,
  ownerId: 'owner',
  namespace: 'labs',
  endingSince: minutesAgo === null ? null : new Date(now.getTime() - minutesAgo * 60_000),
});

describe('selectLabs', () => {
  const labs = [lab('a', 5), lab('b', 120), lab('c', 31), lab('d', 60), lab('e', 30), lab('f', null)];

  it('takes labs in ENDING longer than the limit, oldest first, at most maxLabs', () => {
    expect(selectLabs(labs, now, { olderThanMinutes: 30, maxLabs: 20 }).map((l) => l.id)).toEqual(['b', 'd', 'c']);
    expect(selectLabs(labs, now, { olderThanMinutes: 30, maxLabs: 2 }).map((l) => l.id)).toEqual(['b', 'd']);
  });

  it('never takes a lab whose entry into ENDING is unknown', () => {
    expect(selectLabs(labs, now, { olderThanMinutes: 1, maxLabs: 20 }).map((l) => l.id)).not.toContain('f');
  });

  it('in lab-id mode ignores age and limit', () => {
    expect(selectLabs(labs, now, { olderThanMinutes: 30, maxLabs: 1, labId: 'a' }).map((l) => l.id)).toEqual(['a']);
    expect(selectLabs(labs, now, { olderThanMinutes: 30, maxLabs: 1, labId: 'zzz' })).toEqual([]);
  });
});

describe('verdict', () => {
  const clean = { deletesSucceeded: true, remaining: [], errors: [] };

  it('finishes only a verified, complete teardown (B-4)', () => {
    expect(verdict('force', clean)).toEqual({ status: 'finished' });
  });

  it.each([
    ['resources remain', { ...clean, remaining: ['pod/lab-vm'] }, /resources remain after teardown: pod\/lab-vm/],
    [
      'the verifying listing failed',
      { ...clean, remaining: null, errors: ['HTTP 503'] },
      /could not verify the teardown: HTTP 503/,
    ],
    [
      'a delete failed even though nothing is listed',
      { deletesSucceeded: false, remaining: [], errors: ['HTTP 500'] },
      /teardown errors: HTTP 500/,
    ],
    ['the teardown never ran', undefined, /did not run/],
  ])('leaves the lab unknown (never a terminal state) when %s', (_label, evidence, reason) => {
    const result = verdict('force', evidence);
    expect(result.status).toBe('unknown');
    expect(result.status === 'unknown' && result.reason).toMatch(reason);
  });

  it('action=fail only marks failed', () => {
    expect(verdict('fail', clean)).toMatchObject({ status: 'failed' });
  });
});

describe('ageMinutes', () => {
  it('shows minutes to one decimal', () => {
    expect(ageMinutes(lab('a', 45.25), now)).toBe('45.3');
    expect(ageMinutes(lab('a', null), now)).toBe('unknown');
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decide } from '../../functions/warn/decide.js';
import type { DueReservation, WarnInput } from '../../functions/warn/decide.js';

const now = new Date('2026-06-01T12:00:00Z');
const inSeconds = (seconds: number) => new Date(now.getTime() + seconds * 1000);

const reservation = (overrides: Partial<DueReservation> = {}): DueReservation => ({
  reservationId: 'r-1',
  expiresAt: inSeconds(20 * 60),
  podName: 'gpu-dev-r1',
  namespace: 'gpu-dev',
  ...overrides,
});

const input = (overrides: Partial<WarnInput> = {}): WarnInput => ({
  now,
  reservations: [reservation()],
  sentLevels: new Map(),
  levelsMinutes: [30, 15, 5],
  maxItems: 100,
  ...overrides,
});

describe('warn: which level', () => {
  it.each([
    [31 * 60, undefined],
    [30 * 60, 30],
    [20 * 60, 30],
    [15 * 60, 15],
    [14 * 60 + 59, 15],
    [4 * 60, 5],
    [30, 5],
  ])('with %i seconds left sends the %s-minute level', (secondsLeft, level) => {
    const result = decide(input({ reservations: [reservation({ expiresAt: inSeconds(secondsLeft) })] }));
    expect(result.warnings[0]?.levelMinutes).toBe(level);
  });

  it('sends the most urgent crossed level, skipping the missed ones (A-3)', () => {
    const result = decide(input({ reservations: [reservation({ expiresAt: inSeconds(4 * 60) })] }));
    expect(result.warnings.map((w) => w.levelMinutes)).toEqual([5]);
  });

  it('sends nothing when that level was already sent for this deadline', () => {
    const result = decide(input({ reservations: [reservation({ expiresAt: inSeconds(14 * 60) })], sentLevels: new Map([['r-1', [15]]]) }));
    expect(result.warnings).toEqual([]);
  });

  it('never sends a less urgent level after a more urgent one', () => {
    const result = decide(input({ reservations: [reservation({ expiresAt: inSeconds(20 * 60) })], sentLevels: new Map([['r-1', [5]]]) }));
    expect(result.warnings).toEqual([]);
  });

  it('moves on to the next level once crossed', () => {
    const result = decide(input({ reservations: [reservation({ expiresAt: inSeconds(4 * 60) })], sentLevels: new Map([['r-1', [30, 15]]]) }));
    expect(result.warnings.map((w) => w.levelMinutes)).toEqual([5]);
  });

  it('never warns at or after the deadline', () => {
    for (const seconds of [0, -1, -119]) {
      expect(decide(input({ reservations: [reservation({ expiresAt: inSeconds(seconds) })] })).warnings).toEqual([]);
    }
  });

  it('honours configured levels in any order', () => {
    const result = decide(input({ levelsMinutes: [2, 60, 2], reservations: [reservation({ expiresAt: inSeconds(50 * 60) })] }));
    expect(result.warnings.map((w) => w.levelMinutes)).toEqual([60]);
  });
});

describe('warn: the file name minutes', () => {
  it('uses whole minutes left, never negative (A-23)', () => {
    expect(decide(input({ reservations: [reservation({ expiresAt: inSeconds(14 * 60 + 59) })] })).warnings[0]!.minutesLeft).toBe(14);
    expect(decide(input({ reservations: [reservation({ expiresAt: inSeconds(30) })] })).warnings[0]!.minutesLeft).toBe(0);
  });
});

describe('warn: budget and pods', () => {
  it('warns the closest deadlines first and defers beyond maxItems', () => {
    const result = decide(input({
      maxItems: 1,
      reservations: [reservation({ reservationId: 'later', expiresAt: inSeconds(25 * 60) }), reservation({ reservationId: 'sooner', expiresAt: inSeconds(3 * 60) })],
    }));
    expect(result.warnings.map((w) => w.reservationId)).toEqual(['sooner']);
    expect(result.deferred).toBe(1);
  });

  it('skips a reservation without a pod name and reports it', () => {
    const result = decide(input({ reservations: [reservation({ podName: null })] }));
    expect(result.warnings).toEqual([]);
    expect(result.skipped).toEqual([{ reservationId: 'r-1', reason: 'no-pod-name' }]);
  });
});

describe('warn: properties', () => {
  it('over any sequence of runs, sends each level at most once per deadline, most urgent last, and never after the deadline', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 90 * 60 }),
      fc.array(fc.integer({ min: 1, max: 15 * 60 }), { minLength: 1, maxLength: 40 }),
      (secondsLeft, steps) => {
        const expiresAt = inSeconds(secondsLeft);
        const sent: number[] = [];
        let clock = now.getTime();
        for (const step of steps) {
          const result = decide(input({ now: new Date(clock), reservations: [reservation({ expiresAt })], sentLevels: new Map([['r-1', sent]]) }));
          for (const warning of result.warnings) {
            expect(clock).toBeLessThan(expiresAt.getTime());
            expect(sent).not.toContain(warning.levelMinutes);
            if (sent.length > 0) expect(warning.levelMinutes).toBeLessThan(Math.min(...sent));
            sent.push(warning.levelMinutes);
          }
          clock += step * 1000;
        }
      },
    ));
  });
});

/*
 * warn's decide over random histories: random level lists, deadlines, extensions (and shortenings)
 * and missed runs, with a ledger keyed by (deadline, level) as the database keeps it. Whatever
 * happens, each (deadline, level) is sent at most once, the level sent is the most urgent one
 * crossed, nothing is sent at or after the deadline, and a new deadline re-arms the levels.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decide } from '../../functions/warn/decide.js';

const start = new Date('2026-06-01T12:00:00Z').getTime();
const MINUTE_MS = 60_000;

type Step =
  | { kind: 'run'; afterSeconds: number }
  | { kind: 'missed'; afterSeconds: number } // time passes, no run (a skipped tick, a down gateway)
  | { kind: 'extend'; newRemainingSeconds: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ kind: fc.constant('run' as const), afterSeconds: fc.integer({ min: 1, max: 10 * 60 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('missed' as const), afterSeconds: fc.integer({ min: 1, max: 20 * 60 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('extend' as const),
      newRemainingSeconds: fc.integer({ min: -600, max: 120 * 60 }),
    }),
  },
);

const levels = fc.uniqueArray(fc.integer({ min: 1, max: 60 }), { minLength: 1, maxLength: 5 });

interface History {
  now: number;
  deadline: number;
  /** deadline (ms) -> levels sent for it: the warning ledger. */
  ledger: Map<number, number[]>;
  /** True from a deadline change until the first run inside the warning horizon. */
  rearmed: boolean;
}

function runOnce(history: History, levelsMinutes: number[]): void {
  const sentForDeadline = history.ledger.get(history.deadline) ?? [];
  const result = decide({
    now: new Date(history.now),
    reservations: [{ reservationId: 'r', expiresAt: new Date(history.deadline), podName: 'p', namespace: 'n' }],
    sentLevels: new Map([['r', sentForDeadline]]),
    levelsMinutes,
  });
  const remainingMs = history.deadline - history.now;
  const crossed = levelsMinutes.filter((level) => remainingMs <= level * MINUTE_MS);
  expect(result.warnings.length).toBeLessThanOrEqual(1);
  const warning = result.warnings[0];
  if (warning) {
    expect(remainingMs).toBeGreaterThan(0); // never at or after the deadline
    expect(warning.levelMinutes).toBe(Math.min(...crossed)); // the most urgent crossed level
    expect(sentForDeadline).not.toContain(warning.levelMinutes); // once per (deadline, level)
    expect(sentForDeadline.every((sent) => warning.levelMinutes < sent)).toBe(true); // never less urgent
    history.ledger.set(history.deadline, [...sentForDeadline, warning.levelMinutes]);
  }
  const insideHorizon = remainingMs > 0 && crossed.length > 0;
  if (history.rearmed && insideHorizon) {
    // The first run inside the horizon of a fresh deadline always warns: the levels re-armed.
    if (!history.ledger.has(history.deadline) || sentForDeadline.length === 0) expect(warning).toBeDefined();
    history.rearmed = false;
  }
}

describe('warn: decide over random deadlines, extensions and missed runs', () => {
  it('keeps every promise of the warning ledger', () => {
    fc.assert(
      fc.property(
        levels,
        fc.integer({ min: 1, max: 90 * 60 }),
        fc.array(step, { minLength: 1, maxLength: 60 }),
        (levelsMinutes, remainingSeconds, steps) => {
          const history: History = {
            now: start,
            deadline: start + remainingSeconds * 1000,
            ledger: new Map(),
            rearmed: true,
          };
          for (const next of steps) {
            if (next.kind === 'extend') {
              const deadline = history.now + next.newRemainingSeconds * 1000;
              history.rearmed = deadline !== history.deadline;
              history.deadline = deadline;
              continue;
            }
            history.now += next.afterSeconds * 1000;
            if (next.kind === 'run') runOnce(history, levelsMinutes);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('sends each level of one deadline when every minute is a run, most urgent last', () => {
    fc.assert(
      fc.property(levels, (levelsMinutes) => {
        const deadline = start + 61 * MINUTE_MS;
        const sent: number[] = [];
        for (let minute = 0; minute <= 62; minute++) {
          const result = decide({
            now: new Date(start + minute * MINUTE_MS),
            reservations: [{ reservationId: 'r', expiresAt: new Date(deadline), podName: 'p', namespace: 'n' }],
            sentLevels: new Map([['r', sent]]),
            levelsMinutes,
          });
          sent.push(...result.warnings.map((warning) => warning.levelMinutes));
        }
        expect(sent).toEqual([...levelsMinutes].sort((a, b) => b - a));
      }),
      { numRuns: 100 },
    );
  });
});

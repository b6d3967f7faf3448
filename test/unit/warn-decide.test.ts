import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decide, decideWarn, podVerdict } from '../../functions/warn/decide.js';
import type { DueReservation, WarnInput, WarnLoad } from '../../functions/warn/decide.js';

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
    const result = decide(
      input({ reservations: [reservation({ expiresAt: inSeconds(14 * 60) })], sentLevels: new Map([['r-1', [15]]]) }),
    );
    expect(result.warnings).toEqual([]);
  });

  it('never sends a less urgent level after a more urgent one', () => {
    const result = decide(
      input({ reservations: [reservation({ expiresAt: inSeconds(20 * 60) })], sentLevels: new Map([['r-1', [5]]]) }),
    );
    expect(result.warnings).toEqual([]);
  });

  it('moves on to the next level once crossed', () => {
    const result = decide(
      input({
        reservations: [reservation({ expiresAt: inSeconds(4 * 60) })],
        sentLevels: new Map([['r-1', [30, 15]]]),
      }),
    );
    expect(result.warnings.map((w) => w.levelMinutes)).toEqual([5]);
  });

  it('never warns at or after the deadline', () => {
    for (const seconds of [0, -1, -119]) {
      expect(decide(input({ reservations: [reservation({ expiresAt: inSeconds(seconds) })] })).warnings).toEqual([]);
    }
  });

  it('honours configured levels in any order', () => {
    const result = decide(
      input({ levelsMinutes: [2, 60, 2], reservations: [reservation({ expiresAt: inSeconds(50 * 60) })] }),
    );
    expect(result.warnings.map((w) => w.levelMinutes)).toEqual([60]);
  });
});

describe('warn: the file name minutes', () => {
  it('uses whole minutes left, never negative (A-23)', () => {
    expect(
      decide(input({ reservations: [reservation({ expiresAt: inSeconds(14 * 60 + 59) })] })).warnings[0]!.minutesLeft,
    ).toBe(14);
    expect(decide(input({ reservations: [reservation({ expiresAt: inSeconds(30) })] })).warnings[0]!.minutesLeft).toBe(
      0,
    );
  });
});

describe('warn: order and pods', () => {
  it('puts the closest deadlines first, so what the kernel leaves for the next run is the least urgent', () => {
    const result = decide(
      input({
        reservations: [
          reservation({ reservationId: 'later', expiresAt: inSeconds(25 * 60) }),
          reservation({ reservationId: 'sooner', expiresAt: inSeconds(3 * 60) }),
        ],
      }),
    );
    expect(result.warnings.map((w) => w.reservationId)).toEqual(['sooner', 'later']);
  });

  it('skips a reservation without a pod name and reports it', () => {
    const result = decide(input({ reservations: [reservation({ podName: null })] }));
    expect(result.warnings).toEqual([]);
    expect(result.skipped).toEqual([{ reservationId: 'r-1', reason: 'no-pod-name' }]);
  });
});

describe('warn: properties', () => {
  it('over any sequence of runs, sends each level at most once per deadline, most urgent last, and never after the deadline', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 90 * 60 }),
        fc.array(fc.integer({ min: 1, max: 15 * 60 }), { minLength: 1, maxLength: 40 }),
        (secondsLeft, steps) => {
          const expiresAt = inSeconds(secondsLeft);
          const sent: number[] = [];
          let clock = now.getTime();
          for (const step of steps) {
            const result = decide(
              input({
                now: new Date(clock),
                reservations: [reservation({ expiresAt })],
                sentLevels: new Map([['r-1', sent]]),
              }),
            );
            for (const warning of result.warnings) {
              expect(clock).toBeLessThan(expiresAt.getTime());
              expect(sent).not.toContain(warning.levelMinutes);
              if (sent.length > 0) expect(warning.levelMinutes).toBeLessThan(Math.min(...sent));
              sent.push(warning.levelMinutes);
            }
            clock += step * 1000;
          }
        },
      ),
    );
  });
});

describe('warn: a claim abandoned by a killed run (SPEC 2.1)', () => {
  const LEASE = 80;
  const loaded = (ledger: WarnLoad['ledger'], secondsLeft = 12 * 60): WarnLoad => ({
    reservations: [reservation({ expiresAt: inSeconds(secondsLeft) })],
    ledger,
    webhooks: [],
    levelsMinutes: [30, 15, 5],
    claimLeaseSeconds: LEASE,
    pods: new Map([['r-1', { kind: 'present' as const }]]),
  });
  const claim = (levelMinutes: number, claimedSecondsAgo: number) => ({
    reservationId: 'r-1',
    levelMinutes,
    state: 'sending' as const,
    claimedAt: inSeconds(-claimedSecondsAgo),
  });
  const plan = (load: WarnLoad) => decideWarn(load, { now, options: {}, maxItems: 100 }).actions;

  it('delivers the level again, to the file only, once the claim is older than any run lasts', () => {
    expect(plan(loaded([claim(15, LEASE + 1)]))).toMatchObject([{ kind: 'warn', levelMinutes: 15, redelivery: true }]);
  });

  it('leaves a claim alone while its run may still be delivering it', () => {
    expect(plan(loaded([claim(15, LEASE)]))).toEqual([]);
  });

  it('a sent level stays sent; a failed one is retried with its broadcast', () => {
    expect(plan(loaded([{ ...claim(15, 9999), state: 'sent' }]))).toEqual([]);
    expect(plan(loaded([{ ...claim(15, 9999), state: 'failed' }]))).toMatchObject([
      { levelMinutes: 15, redelivery: false },
    ]);
  });

  it('a more urgent level crossed since is a new warning, broadcast as usual', () => {
    expect(plan(loaded([claim(15, LEASE + 1)], 4 * 60))).toMatchObject([{ levelMinutes: 5, redelivery: false }]);
  });

  it('follows the warnings with the owed webhook notices', () => {
    const owed = { reservationId: 'r-2', expiresAt: inSeconds(600), levelMinutes: 15, minutesLeft: 10 };
    expect(plan({ ...loaded([claim(15, 1)]), webhooks: [owed] }).map((a) => a.kind)).toEqual(['webhook']);
  });
});

describe('warn: whose pod (podVerdict over shared/kube/pod-evidence answers)', () => {
  it.each([
    [{ kind: 'present' as const }, 'deliver'],
    [{ kind: 'absent' as const }, 'pod_missing'],
    [{ kind: 'unknown' as const, error: 'HTTP 503' }, 'unknown'],
    [{ kind: 'unknown' as const, error: 'labelled', owner: 'someone-else' }, 'pod_mismatch'],
    // The reservation's label is on another pod: the row's pod is not ours to write into, whatever a read says.
    [{ kind: 'present' as const, listedAs: 'gpu-dev-other' }, 'pod_mismatch'],
    [{ kind: 'absent' as const, listedAs: 'gpu-dev-other' }, 'pod_mismatch'],
    [undefined, 'unknown'],
  ])('%j → %s', (seen, verdict) => {
    expect(podVerdict(seen).kind).toBe(verdict);
  });

  it("plans a delivery only into a pod that is the reservation's; an unanswered question is a failed attempt", () => {
    const ids = ['ok', 'gone', 'other', 'unknown'];
    const plan = decideWarn(
      {
        reservations: ids.map((reservationId) => reservation({ reservationId })),
        ledger: [],
        webhooks: [],
        levelsMinutes: [30],
        claimLeaseSeconds: 80,
        pods: new Map([
          ['ok', { kind: 'present' }],
          ['gone', { kind: 'absent' }],
          ['other', { kind: 'unknown', error: 'x', owner: 'z' }],
          ['unknown', { kind: 'unknown', error: 'HTTP 503' }],
        ]),
      },
      { now, options: {}, maxItems: 100 },
    );
    expect(plan.actions.map((a) => [a.reservationId, a.kind === 'warn' ? a.podUnknown : undefined])).toEqual([
      ['ok', undefined],
      ['unknown', 'HTTP 503'],
    ]);
    expect(plan.counts).toEqual({ skipped_no_pod: 0, pod_missing: 1, pod_mismatch: 1 });
  });
});

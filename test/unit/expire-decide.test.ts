import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { POD_GONE_REASON, absentSince, decide as decidePlan } from '../../functions/expire/decide.js';
import type {
  ActiveReservation,
  EndAction,
  ExpireInput,
  PodObservation,
  WaitingReservation,
} from '../../functions/expire/decide.js';
import type { PodSummary } from '../../shared/kube/pod-health.js';

const now = new Date('2026-06-01T12:00:00Z');
const at = (minutes: number) => new Date(now.getTime() + minutes * 60_000);
const policy = {
  gracePeriodSeconds: 120,
  launchGraceMinutes: 10,
  podAbsentConfirmSeconds: 60,
  preparingTimeoutMinutes: 60,
  queueTimeoutHours: 48,
  mainContainer: 'gpu-dev',
};

// The end actions decide returns, without what the kernel reads (entity, inputs, dry-run item, the
// destructive flag the safety rails weigh — every end carries it), and what it counted; the upkeep
// (the plan's observations to record) is tested on its own below.
function decide(given: ExpireInput) {
  const plan = decidePlan(given);
  const ends = plan.actions.flatMap((action) => {
    const { entity: _entity, inputs: _inputs, item: _item, announced: _announced, destructive, ...end } = action;
    if (destructive !== true) throw new Error(`end action ${end.kind} is not marked destructive`);
    return [end as Omit<EndAction, 'entity' | 'inputs' | 'item' | 'announced' | 'destructive'>];
  });
  return { ends, counts: plan.counts ?? {}, records: plan.upkeep ?? [] };
}

const active = (overrides: Partial<ActiveReservation> = {}): ActiveReservation => ({
  reservationId: 'r-1',
  expiresAt: at(30),
  launchedAt: at(-60),
  statusChangedAt: at(-60),
  podName: 'gpu-dev-r1',
  namespace: 'gpu-dev',
  ...overrides,
});

const pod = (overrides: Partial<PodSummary> = {}): PodSummary => ({
  name: 'gpu-dev-r1',
  namespace: 'gpu-dev',
  uid: 'uid-1',
  phase: 'Running',
  deleting: false,
  conditions: [],
  containers: [{ name: 'gpu-dev', running: true }],
  ...overrides,
});

function input(overrides: Partial<ExpireInput> = {}): ExpireInput {
  return { now, active: [], waiting: [], pods: new Map(), absentSince: new Map(), policy, ...overrides };
}

const present = (summary: PodSummary = pod()): PodObservation => ({ kind: 'present', pod: summary });

describe('expire: deadlines', () => {
  it.each([
    ['inside the grace period', at(-1), []],
    ['exactly at deadline + grace', at(-2), []],
    ['past deadline + grace', new Date(at(-2).getTime() - 1), ['expire']],
    ['in the future', at(5), []],
  ])('%s', (_label, expiresAt, kinds) => {
    const result = decide(input({ active: [active({ expiresAt })], pods: new Map([['r-1', present()]]) }));
    expect(result.ends.map((end) => end.kind)).toEqual(kinds);
  });

  it('carries the deadline it read, for the compare-and-set', () => {
    const result = decide(input({ active: [active({ expiresAt: at(-10) })] }));
    expect(result.ends[0]).toMatchObject({ kind: 'expire', expectedExpiresAt: at(-10) });
  });

  it('carries the pod and deadline it read, which the end event announces and the compare-and-set holds', () => {
    const result = decidePlan(input({ active: [active({ expiresAt: at(-10) })] }));
    expect(result.actions[0]!.announced).toEqual({ podName: 'gpu-dev-r1', namespace: 'gpu-dev', expiresAt: at(-10) });
  });

  it('expires on the deadline even when the pod state is unknown', () => {
    const result = decide(
      input({ active: [active({ expiresAt: at(-10) })], pods: new Map([['r-1', { kind: 'unknown', error: '503' }]]) }),
    );
    expect(result.ends.map((end) => end.kind)).toEqual(['expire']);
  });

  it('skips and counts a NULL or unparseable deadline, whatever the pod says (A-2)', () => {
    const result = decide(
      input({
        active: [
          active({ reservationId: 'null', expiresAt: null }),
          active({ reservationId: 'bad', expiresAt: new Date('nonsense') }),
        ],
        pods: new Map<string, PodObservation>([
          ['null', { kind: 'absent' }],
          ['bad', present(pod({ phase: 'Failed' }))],
        ]),
        absentSince: new Map([['null', at(-30)]]),
      }),
    );
    expect(result.ends).toEqual([]);
    expect(result.counts.skipped_null_expiry).toBe(2);
  });
});

describe('expire: pods that are gone', () => {
  const gone = new Map<string, PodObservation>([['r-1', { kind: 'absent' }]]);

  it('records the first 404 and does not expire yet', () => {
    const result = decide(input({ active: [active()], pods: gone }));
    expect(result.ends).toEqual([]);
    expect(result.records).toEqual([{ reservationId: 'r-1', kind: 'absent' }]);
    expect(absentSince(undefined, 'absent', now)).toEqual(now);
  });

  it('waits until the second 404 is at least a minute after the first', () => {
    const tooSoon = decide(
      input({ active: [active()], pods: gone, absentSince: new Map([['r-1', new Date(now.getTime() - 59_000)]]) }),
    );
    expect(tooSoon.ends).toEqual([]);
    const confirmed = decide(input({ active: [active()], pods: gone, absentSince: new Map([['r-1', at(-1)]]) }));
    expect(confirmed.ends).toEqual([
      { kind: 'expire-pod-gone', reservationId: 'r-1', expectedExpiresAt: at(30), reason: POD_GONE_REASON },
    ]);
  });

  it('never treats an API error as absence (A-1)', () => {
    const result = decide(
      input({
        active: [active()],
        pods: new Map([['r-1', { kind: 'unknown', error: 'HTTP 500' }]]),
        absentSince: new Map([['r-1', at(-30)]]),
      }),
    );
    expect(result.ends).toEqual([]);
    expect(absentSince(at(-30), 'unknown', now)).toEqual(at(-30));
  });

  it('does nothing for a pod not observed at all', () => {
    expect(decide(input({ active: [active()] })).ends).toEqual([]);
  });

  it('leaves a freshly launched reservation alone for the launch grace', () => {
    const result = decide(
      input({ active: [active({ launchedAt: at(-9) })], pods: gone, absentSince: new Map([['r-1', at(-5)]]) }),
    );
    expect(result.ends).toEqual([]);
  });

  it('anchors the launch grace on the status change when launched_at is missing', () => {
    const result = decide(
      input({
        active: [active({ launchedAt: null, statusChangedAt: at(-5) })],
        pods: gone,
        absentSince: new Map([['r-1', at(-2)]]),
      }),
    );
    expect(result.ends).toEqual([]);
  });

  it('forgets an absence when the pod is seen again', () => {
    const result = decide(
      input({ active: [active()], pods: new Map([['r-1', present()]]), absentSince: new Map([['r-1', at(-5)]]) }),
    );
    expect(result.records).toEqual([{ reservationId: 'r-1', kind: 'present' }]);
    expect(absentSince(at(-5), 'present', now)).toBeUndefined();
    expect(result.ends).toEqual([]);
  });
});

describe('expire: dead pods', () => {
  it.each([
    [
      'evicted',
      pod({ phase: 'Failed', reason: 'Evicted', message: 'low on memory' }),
      'Pod failed: Evicted: low on memory',
    ],
    ['completed', pod({ phase: 'Succeeded' }), 'Pod completed'],
    [
      'disrupted while the main container is down',
      pod({
        conditions: [{ type: 'DisruptionTarget', status: 'True', reason: 'PreemptionByScheduler' }],
        containers: [{ name: 'gpu-dev', running: false }],
      }),
      'Pod disrupted: PreemptionByScheduler',
    ],
  ])('fails a reservation whose pod is %s, with the pod reason', (_label, summary, reason) => {
    const result = decide(input({ active: [active()], pods: new Map([['r-1', present(summary)]]) }));
    expect(result.ends).toEqual([{ kind: 'fail-dead-pod', reservationId: 'r-1', expectedExpiresAt: at(30), reason }]);
  });

  it.each([
    ['running', pod()],
    ['pending', pod({ phase: 'Pending', containers: [{ name: 'gpu-dev', running: false }] })],
    [
      'restarted after an OOM kill',
      pod({
        containers: [
          { name: 'gpu-dev', running: true, restartCount: 1, lastTerminated: { reason: 'OOMKilled', exitCode: 137 } },
        ],
      }),
    ],
    [
      'disrupted but the main container still runs',
      pod({ conditions: [{ type: 'DisruptionTarget', status: 'True' }] }),
    ],
    [
      'with a DisruptionTarget condition that is False',
      pod({ conditions: [{ type: 'DisruptionTarget', status: 'False' }], containers: [] }),
    ],
  ])('keeps a reservation whose pod is %s', (_label, summary) => {
    expect(decide(input({ active: [active()], pods: new Map([['r-1', present(summary)]]) })).ends).toEqual([]);
  });
});

describe('expire: waiting reservations', () => {
  const waiting = (status: WaitingReservation['status'], minutesAgo: number): WaitingReservation => ({
    reservationId: `${status}-${minutesAgo}`,
    status,
    statusChangedAt: at(-minutesAgo),
    podName: null,
    namespace: null,
    expiresAt: null,
  });

  it('fails preparing after an hour in preparing, not after an hour since creation (A-13)', () => {
    const result = decide(
      input({ waiting: [waiting('preparing', 61), waiting('preparing', 60), waiting('preparing', 5)] }),
    );
    expect(result.ends).toEqual([
      {
        kind: 'fail-stuck-preparing',
        reservationId: 'preparing-61',
        expectedStatusChangedAt: at(-61),
        reason: 'Reservation stuck in preparing state for more than 1 hour',
      },
    ]);
  });

  it('cancels queued and pending after 48 hours in that state, with the origin reason', () => {
    const result = decide(
      input({ waiting: [waiting('queued', 48 * 60 + 1), waiting('pending', 48 * 60 + 1), waiting('queued', 47 * 60)] }),
    );
    expect(result.ends.map((end) => [end.kind, end.reservationId, end.reason])).toEqual([
      ['cancel-stale', 'queued-2881', 'Stale reservation - exceeded 48 hour queue time'],
      ['cancel-stale', 'pending-2881', 'Stale reservation - exceeded 48 hour queue time'],
    ]);
  });
});

describe('expire: order', () => {
  it('does deadlines first, most overdue first, then the queues (the kernel defers what is past maxItems)', () => {
    const result = decide(
      input({
        active: [
          active({ reservationId: 'late', expiresAt: at(-10) }),
          active({ reservationId: 'later', expiresAt: at(-60) }),
        ],
        waiting: [
          {
            reservationId: 'stale',
            status: 'queued',
            statusChangedAt: at(-50 * 60),
            podName: null,
            namespace: null,
            expiresAt: null,
          },
        ],
      }),
    );
    expect(result.ends.map((end) => end.reservationId)).toEqual(['later', 'late', 'stale']);
  });

  it('counts as deferred the due rows the reads did not return', () => {
    const plan = decidePlan(input({ active: [active({ expiresAt: at(-10) })], due: { active: 5, waiting: 2 } }));
    expect(plan.backlog).toBe(4 + 2);
  });
});

describe('expire: properties', () => {
  const observation = fc.oneof(
    fc.constant<PodObservation>({ kind: 'unknown', error: 'x' }),
    fc.constant<PodObservation>({ kind: 'absent' }),
    fc.constant<PodObservation>(present()),
  );
  const row = fc.record({
    deadlineMinutes: fc.option(fc.integer({ min: -600, max: 600 }), { nil: null }),
    launchedMinutes: fc.integer({ min: -600, max: 0 }),
    absentMinutes: fc.option(fc.integer({ min: -600, max: 0 }), { nil: null }),
    observation,
  });

  it('never ends a reservation before deadline + grace unless its pod was confirmed gone or dead', () => {
    fc.assert(
      fc.property(fc.array(row, { maxLength: 20 }), (rows) => {
        const ids = rows.map((_, index) => `r-${index}`);
        const result = decide(
          input({
            active: rows.map((r, index) =>
              active({
                reservationId: ids[index],
                expiresAt: r.deadlineMinutes === null ? null : at(r.deadlineMinutes),
                launchedAt: at(r.launchedMinutes),
              }),
            ),
            pods: new Map(rows.map((r, index) => [ids[index]!, r.observation])),
            absentSince: new Map(
              rows.flatMap((r, index) =>
                r.absentMinutes === null ? [] : [[ids[index]!, at(r.absentMinutes)] as const],
              ),
            ),
          }),
        );
        for (const end of result.ends) {
          const r = rows[ids.indexOf(end.reservationId)]!;
          expect(r.deadlineMinutes).not.toBeNull();
          if (end.kind === 'expire') expect(at(r.deadlineMinutes!).getTime() + 120_000).toBeLessThan(now.getTime());
          if (end.kind === 'expire-pod-gone') {
            expect(r.observation.kind).toBe('absent');
            expect(r.absentMinutes).not.toBeNull();
            expect(r.absentMinutes!).toBeLessThanOrEqual(-1);
            expect(r.launchedMinutes).toBeLessThanOrEqual(-10);
          }
          expect(end.kind).not.toBe('fail-dead-pod'); // only healthy pods were generated
        }
      }),
    );
  });
});

describe('expire: pod deleted events', () => {
  it('ends at once when the API server reported the deletion and the pod is now a 404', () => {
    const result = decide(
      input({ active: [active()], pods: new Map([['r-1', { kind: 'absent' }]]), deletedByEvent: new Set(['r-1']) }),
    );
    expect(result.ends.map((end) => end.kind)).toEqual(['expire-pod-gone']);
  });

  it('does nothing for a deletion event when the pod is back (recreated) or the read failed', () => {
    for (const observation of [present(), { kind: 'unknown', error: 'timeout' } as PodObservation]) {
      const result = decide(
        input({ active: [active()], pods: new Map([['r-1', observation]]), deletedByEvent: new Set(['r-1']) }),
      );
      expect(result.ends).toEqual([]);
    }
  });

  it('still honours the launch grace for a deletion event', () => {
    const result = decide(
      input({
        active: [active({ launchedAt: at(-2) })],
        pods: new Map([['r-1', { kind: 'absent' }]]),
        deletedByEvent: new Set(['r-1']),
      }),
    );
    expect(result.ends).toEqual([]);
  });
});

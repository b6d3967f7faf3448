/*
 * expire's evidence rules at run level, where the races happen: an extension or cancellation
 * committed while the run is between its read and its write (here: inside its pod check) wins,
 * a run whose budget is spent starts no transition, a pod-change event about an evicted pod ends
 * its reservation at once (but not when its name is shared by two active reservations), and an API
 * that does not answer in time (a timeout, not an error status) is never read as "the pod is
 * gone", on the schedule or on a pod event.
 */
import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { expire } from '../../functions/expire/handler.js';
import { EventTypes } from '../../shared/events/types.js';
import type { PodReader } from '../../shared/kube/pods.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertReservation } from '../support/fixtures.js';

// A short client timeout so a held request times out quickly; the simulator holds for longer.
const TIMEOUT_MS = 200;
const h = useFunctionHarness({ KUBE_REQUEST_TIMEOUT_MS: String(TIMEOUT_MS) });
const minutesFromNow = (minutes: number) => new Date(h.clock.now().getTime() + minutes * 60_000);
const podsPath = /^\/api\/v1\/namespaces\/gpu-dev\/pods/;

async function rowOf(id: string) {
  const { rows } = await h.deps.pool.query('select status, expires_at from reservations where reservation_id = $1', [
    id,
  ]);
  return rows[0] as { status: string; expires_at: Date };
}

async function active(id: string, expiresInMinutes: number, withPod: boolean) {
  const podName = `gpu-dev-${id.slice(0, 8)}`;
  await insertReservation(h.deps.pool, {
    reservation_id: id,
    pod_name: podName,
    namespace: 'gpu-dev',
    launched_at: minutesFromNow(-60),
    status_changed_at: minutesFromNow(-60),
    expires_at: minutesFromNow(expiresInMinutes),
  });
  if (withPod) h.sim.kube.addPod({ name: podName, namespace: 'gpu-dev', labels: { 'reservation-id': id } });
  return podName;
}

/** Runs a scheduled sweep whose pod check (after the overdue rows were read) first runs `meanwhile`. */
function sweepWith(meanwhile: () => Promise<unknown>) {
  const pods: PodReader = {
    ...h.deps.pods,
    podsForReservations: async (namespace, ids) => {
      await meanwhile();
      return h.deps.pods.podsForReservations(namespace, ids);
    },
  };
  const invocation = {
    kind: 'schedule',
    source: 'cron-connector',
    callId: randomUUID(),
    options: expire.optionsSchema.parse({}),
  } as const;
  return expire.handle(invocation, { ...h.deps, pods });
}

beforeEach(async () => {
  h.sim.faults.clear();
  h.sim.requests.clear();
  await h.deps.pool.query('delete from reservations');
  for (const pod of h.sim.kube.list('pods', 'gpu-dev'))
    h.sim.kube.deleteBehindOurBack({ namespace: 'gpu-dev', name: pod.metadata.name });
});

describe("expire: an extension committed between the run's read and its write wins (A-5)", () => {
  it('leaves the reservation active with its new deadline and counts a conflict', async () => {
    await active('eeee0001-extended', -10, true);
    const extended = minutesFromNow(60);
    const result = await sweepWith(() =>
      h.deps.pool.query('update reservations set expires_at = $2 where reservation_id = $1', [
        'eeee0001-extended',
        extended,
      ]),
    );
    expect(result).toMatchObject({ outcome: 'succeeded', summary: { expired: 0, conflicts: 1 } });
    expect(await rowOf('eeee0001-extended')).toEqual({ status: 'active', expires_at: extended });
    const { rows } = await h.deps.pool.query(
      `select action, outcome from decision_log where entity_id = 'eeee0001-extended'`,
    );
    expect(rows).toEqual([{ action: 'expire', outcome: 'conflict' }]);
    const { rows: events } = await h.deps.pool.query(
      `select type from event_outbox where subject = 'eeee0001-extended'`,
    );
    expect(events).toEqual([]);
  });

  it('a cancellation committed in between wins too', async () => {
    await active('eeee0002-cancelled', -10, true);
    const result = await sweepWith(() =>
      h.deps.pool.query(`update reservations set status = 'cancelled' where reservation_id = $1`, [
        'eeee0002-cancelled',
      ]),
    );
    expect(result.summary).toMatchObject({ expired: 0, conflicts: 1 });
    expect((await rowOf('eeee0002-cancelled')).status).toBe('cancelled');
  });

  it('without a change in between the same run expires it (the tests above can fail)', async () => {
    await active('eeee0003-control', -10, true);
    const result = await sweepWith(async () => undefined);
    expect(result.summary).toMatchObject({ expired: 1, conflicts: 0 });
    expect((await rowOf('eeee0003-control')).status).toBe('expired');
  });
});

describe('expire: an API timeout is not evidence (A-1)', () => {
  it('never expires a reservation whose pod reads time out, however many runs, even when the pod is really gone', async () => {
    await active('ffff0001-timeout', 120, false);
    h.sim.faults.add({ method: 'GET', path: podsPath, delayMs: TIMEOUT_MS * 5 });
    for (let run = 0; run < 3; run++) {
      const result = await h.schedule(expire);
      expect(result.summary).toMatchObject({ expired_pod_gone: 0, pods_unknown: 1 });
      h.clock.advanceSeconds(120);
    }
    expect((await rowOf('ffff0001-timeout')).status).toBe('active');
    const { rows } = await h.deps.pool.query(
      `select absent_since, last_error from pod_observations where reservation_id = 'ffff0001-timeout'`,
    );
    expect(rows).toEqual([
      { absent_since: null, last_error: expect.stringContaining(`no answer within ${TIMEOUT_MS} ms`) },
    ]);

    // Once the API answers, the absence still needs its own two observations a minute apart.
    h.sim.faults.clear();
    expect((await h.schedule(expire)).summary.expired_pod_gone).toBe(0);
    h.clock.advanceSeconds(61);
    expect((await h.schedule(expire)).summary.expired_pod_gone).toBe(1);
  });

  it('ignores a pod-deleted event when the confirming read times out', async () => {
    const podName = await active('ffff0002-event', 120, true);
    const pod = h.sim.kube.pod({ namespace: 'gpu-dev', name: podName })!;
    h.sim.kube.deleteBehindOurBack({ namespace: 'gpu-dev', name: podName });
    h.sim.faults.add({ method: 'GET', path: podsPath, delayMs: TIMEOUT_MS * 5 });
    const result = await h.event(expire, {
      type: EventTypes.podDeleted,
      source: '/apis/v1/namespaces/gpu-dev/pods',
      data: pod,
    } as never);
    expect(result.summary).toMatchObject({ expired_pod_gone: 0 });
    expect((await rowOf('ffff0002-event')).status).toBe('active');
  });
});

describe('expire: a transition the database refuses', () => {
  it('fails alone: the rest of its batch is applied and the run reports failure', async () => {
    // A trigger on this test's database copy refuses to end one reservation.
    await h.deps.pool.query(`create or replace function refuse_hhhh0002() returns trigger language plpgsql as $$
      begin if new.reservation_id = 'hhhh0002-refused' then raise exception 'refused for the test'; end if; return new; end $$`);
    await h.deps.pool.query(
      'create trigger refuse_hhhh0002 before update on reservations for each row execute function refuse_hhhh0002()',
    );
    try {
      for (const id of ['hhhh0001-ok', 'hhhh0002-refused', 'hhhh0003-ok']) await active(id, -10, false);
      const result = await h.schedule(expire);
      expect(result).toMatchObject({ outcome: 'failed', summary: { expired: 2 } });
      expect(result.message ?? JSON.stringify(result)).toContain('hhhh0002-refused');
      expect((await rowOf('hhhh0001-ok')).status).toBe('expired');
      expect((await rowOf('hhhh0002-refused')).status).toBe('active');
      expect((await rowOf('hhhh0003-ok')).status).toBe('expired');
      const { rows } = await h.deps.pool.query(
        `select entity_id, outcome from decision_log where entity_id like 'hhhh%' order by entity_id`,
      );
      expect(rows).toEqual([
        { entity_id: 'hhhh0001-ok', outcome: 'applied' },
        { entity_id: 'hhhh0002-refused', outcome: 'failed' },
        { entity_id: 'hhhh0003-ok', outcome: 'applied' },
      ]);
    } finally {
      await h.deps.pool.query('drop trigger refuse_hhhh0002 on reservations');
    }
  });
});

describe('expire: the per-run time budget', () => {
  it('starts no transition once the budget is spent; the next run does them', async () => {
    await active('iiii0001-late', -10, true);
    await active('iiii0002-later', -20, true);
    // The pod check is slow: by the time it answers, the run's budget is over.
    const result = await sweepWith(async () => h.clock.advanceSeconds(h.deps.config.run.budgetSeconds + 1));
    expect(result.summary).toMatchObject({ expired: 0, deferred: 2 });
    expect((await rowOf('iiii0001-late')).status).toBe('active');
    expect((await h.schedule(expire)).summary).toMatchObject({ expired: 2, deferred: 0 });
  });
});

describe('expire: pod events', () => {
  it("ends neither reservation when a deleted unlabelled pod's name belongs to two active ones", async () => {
    const podName = 'gpu-dev-shared0';
    for (const id of ['llll0001-first', 'llll0002-second']) {
      await insertReservation(h.deps.pool, {
        reservation_id: id,
        pod_name: podName,
        namespace: 'gpu-dev',
        launched_at: minutesFromNow(-60),
        status_changed_at: minutesFromNow(-60),
        expires_at: minutesFromNow(120),
      });
    }
    h.sim.kube.addPod({ name: podName, namespace: 'gpu-dev' });
    const pod = h.sim.kube.pod({ namespace: 'gpu-dev', name: podName })!;
    h.sim.kube.deleteBehindOurBack({ namespace: 'gpu-dev', name: podName });
    const result = await h.event(expire, {
      type: EventTypes.podDeleted,
      source: '/apis/v1/namespaces/gpu-dev/pods',
      data: pod,
    } as never);
    expect(result.summary).toMatchObject({ ignored_events: 1 });
    expect((await rowOf('llll0001-first')).status).toBe('active');
    expect((await rowOf('llll0002-second')).status).toBe('active');
  });

  it("fails a reservation within one event when its pod is evicted, with the pod's reason", async () => {
    const podName = await active('jjjj0001-evicted', 120, true);
    h.sim.kube.evict({ namespace: 'gpu-dev', name: podName });
    const pod = h.sim.kube.pod({ namespace: 'gpu-dev', name: podName })!;
    const result = await h.event(expire, {
      type: EventTypes.podUpdated,
      source: '/apis/v1/namespaces/gpu-dev/pods',
      data: pod,
    } as never);
    expect(result).toMatchObject({ outcome: 'accepted', summary: { failed_dead_pod: 1 } });
    const { rows } = await h.deps.pool.query(
      `select status, failure_reason from reservations where reservation_id = 'jjjj0001-evicted'`,
    );
    expect(rows).toEqual([{ status: 'failed', failure_reason: expect.stringMatching(/^Pod failed: Evicted/) }]);
  });
});

/*
 * expire end to end: the real Kubernetes client against the simulated cluster, a real database.
 * Every destructive path has a test showing it does not fire on missing or ambiguous evidence.
 */
import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { expire } from '../../functions/expire/handler.js';
import { EventTypes } from '../../shared/events/types.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertReservation } from '../support/fixtures.js';

const h = useFunctionHarness();
const minutesFromNow = (minutes: number) => new Date(h.clock.now().getTime() + minutes * 60_000);

async function statusOf(id: string) {
  const { rows } = await h.deps.pool.query(
    'select status, failure_reason, reservation_ended from reservations where reservation_id = $1',
    [id],
  );
  return rows[0] as { status: string; failure_reason: string | null; reservation_ended: Date | null };
}

async function activeWithPod(id: string, overrides: Parameters<typeof insertReservation>[1] = {}) {
  const row = await insertReservation(h.deps.pool, {
    reservation_id: id,
    pod_name: `gpu-dev-${id.slice(0, 8)}`,
    namespace: 'gpu-dev',
    launched_at: minutesFromNow(-60),
    status_changed_at: minutesFromNow(-60),
    expires_at: minutesFromNow(120),
    ...overrides,
  });
  h.sim.kube.addPod({ name: row.pod_name!, namespace: 'gpu-dev', labels: { 'reservation-id': id } });
  return row;
}

beforeEach(async () => {
  h.sim.faults.clear();
  await h.deps.pool.query('delete from reservations');
  for (const pod of h.sim.kube.list('pods', 'gpu-dev'))
    h.sim.kube.deleteBehindOurBack({ namespace: 'gpu-dev', name: pod.metadata.name });
});

describe('expire: deadlines', () => {
  it('expires an active reservation past deadline + grace, once, leaving a decision', async () => {
    await activeWithPod('aaaa0001-overdue', { expires_at: minutesFromNow(-5) });
    await activeWithPod('aaaa0002-in-grace', { expires_at: minutesFromNow(-1) });
    const result = await h.schedule(expire);
    expect(result).toMatchObject({ outcome: 'succeeded', summary: { expired: 1 } });
    expect(await statusOf('aaaa0001-overdue')).toMatchObject({ status: 'expired', reservation_ended: h.clock.now() });
    expect((await statusOf('aaaa0002-in-grace')).status).toBe('active');
    expect((await h.schedule(expire)).summary.expired).toBe(0);
    const { rows } = await h.deps.pool.query(
      `select action, outcome from decision_log where entity_id = 'aaaa0001-overdue'`,
    );
    expect(rows).toEqual([{ action: 'expire', outcome: 'applied' }]);
  });

  it('skips and counts a reservation without a deadline (A-2)', async () => {
    await activeWithPod('aaaa0003-no-deadline', { expires_at: null });
    const result = await h.schedule(expire);
    expect(result.summary.skipped_null_expiry).toBe(1);
    expect((await statusOf('aaaa0003-no-deadline')).status).toBe('active');
  });

  it('changes nothing in a dry run but says what it would do', async () => {
    await activeWithPod('aaaa0004-dry', { expires_at: minutesFromNow(-30) });
    const result = await h.manual(expire, { dryRun: true });
    expect(result.items).toEqual([expect.objectContaining({ reservationId: 'aaaa0004-dry', action: 'expire' })]);
    expect((await statusOf('aaaa0004-dry')).status).toBe('active');
  });
});

describe('expire: pods that are gone', () => {
  it('expires only after two 404s at least a minute apart', async () => {
    await insertReservation(h.deps.pool, {
      reservation_id: 'bbbb0001-gone',
      pod_name: 'gpu-dev-bbbb0001',
      namespace: 'gpu-dev',
      launched_at: minutesFromNow(-60),
      expires_at: minutesFromNow(120),
    });
    await h.schedule(expire);
    expect((await statusOf('bbbb0001-gone')).status).toBe('active');
    h.clock.advanceSeconds(61);
    const result = await h.schedule(expire);
    expect(result.summary.expired_pod_gone).toBe(1);
    expect(await statusOf('bbbb0001-gone')).toMatchObject({
      status: 'expired',
      failure_reason: 'Pod was manually deleted or removed outside of reservation system',
    });
  });

  it('never expires a live reservation because the API is failing (A-1)', async () => {
    await activeWithPod('bbbb0002-live');
    h.sim.faults.add({ path: /\/pods/, status: 500 });
    for (let run = 0; run < 3; run++) {
      await h.schedule(expire);
      h.clock.advanceSeconds(120);
    }
    h.sim.faults.clear();
    h.sim.faults.add({ path: /\/pods/, reset: true });
    await h.schedule(expire);
    h.clock.advanceSeconds(120);
    await h.schedule(expire);
    expect((await statusOf('bbbb0002-live')).status).toBe('active');
  });

  it('finds an unlabelled pod by name instead of calling it gone (A-17)', async () => {
    await insertReservation(h.deps.pool, {
      reservation_id: 'bbbb0003-nolabel',
      pod_name: 'gpu-dev-bbbb0003',
      namespace: 'gpu-dev',
      launched_at: minutesFromNow(-60),
      expires_at: minutesFromNow(120),
    });
    h.sim.kube.addPod({ name: 'gpu-dev-bbbb0003', namespace: 'gpu-dev' });
    await h.schedule(expire);
    h.clock.advanceSeconds(120);
    await h.schedule(expire);
    expect((await statusOf('bbbb0003-nolabel')).status).toBe('active');
  });

  it('ends a reservation within one event when its pod is deleted', async () => {
    await activeWithPod('bbbb0004-event');
    const pod = h.sim.kube.pod({ namespace: 'gpu-dev', name: 'gpu-dev-bbbb0004' })!;
    h.sim.kube.deleteBehindOurBack({ namespace: 'gpu-dev', name: 'gpu-dev-bbbb0004' });
    const result = await h.event(expire, {
      type: EventTypes.podDeleted,
      source: '/apis/v1/namespaces/gpu-dev/pods',
      data: pod,
    } as never);
    expect(result).toMatchObject({ outcome: 'accepted', summary: { expired_pod_gone: 1 } });
  });

  it("commits the event's inbox record with its effect: a run killed inside the commit leaves neither, the retry ends the reservation once, a duplicate does nothing", async () => {
    await activeWithPod('bbbb0006-killed');
    const pod = h.sim.kube.pod({ namespace: 'gpu-dev', name: 'gpu-dev-bbbb0006' })!;
    h.sim.kube.deleteBehindOurBack({ namespace: 'gpu-dev', name: 'gpu-dev-bbbb0006' });
    const event = {
      id: randomUUID(),
      type: EventTypes.podDeleted,
      source: '/apis/v1/namespaces/gpu-dev/pods',
      data: pod,
    } as never;
    const inbox = async () =>
      Number((await h.deps.pool.query(`select count(*) from event_inbox where consumer = 'expire'`)).rows[0].count);
    const before = await inbox();
    // The decision-log insert is the commit's last write: failing it rolls back the transition and the inbox record.
    await h.deps.pool
      .query(`create function fail_expire_decision() returns trigger language plpgsql as $$ begin raise exception 'killed inside the commit'; end $$;
      create trigger fail_expire_decision before insert on decision_log for each row execute function fail_expire_decision()`);
    try {
      expect((await h.event(expire, event)).outcome).toBe('failed');
    } finally {
      await h.deps.pool.query(
        'drop trigger fail_expire_decision on decision_log; drop function fail_expire_decision()',
      );
    }
    expect((await statusOf('bbbb0006-killed')).status).toBe('active');
    expect(await inbox()).toBe(before);
    expect(await h.event(expire, event)).toMatchObject({ outcome: 'accepted', summary: { expired_pod_gone: 1 } });
    expect((await statusOf('bbbb0006-killed')).status).toBe('expired');
    // Redelivered after the work: the reservation is no longer active, so nothing is done again.
    expect((await h.event(expire, event)).summary).toMatchObject({ expired_pod_gone: 0, failed_dead_pod: 0 });
    const decisions = await h.deps.pool.query(
      `select outcome from decision_log where entity_id = 'bbbb0006-killed' and outcome = 'applied'`,
    );
    expect(decisions.rows).toHaveLength(1);
  });

  it('ignores a stale delete event for a pod that is still there', async () => {
    await activeWithPod('bbbb0005-stale');
    const pod = h.sim.kube.pod({ namespace: 'gpu-dev', name: 'gpu-dev-bbbb0005' })!;
    await h.event(expire, {
      type: EventTypes.podDeleted,
      source: '/apis/v1/namespaces/gpu-dev/pods',
      data: pod,
    } as never);
    expect((await statusOf('bbbb0005-stale')).status).toBe('active');
  });
});

describe('expire: dead pods and waiting reservations', () => {
  it('fails a reservation whose pod was evicted, with the reason, but not one restarted after an OOM kill', async () => {
    await activeWithPod('cccc0001-evicted');
    await activeWithPod('cccc0002-oom');
    h.sim.kube.evict({ namespace: 'gpu-dev', name: 'gpu-dev-cccc0001' });
    h.sim.kube.oomKill({ namespace: 'gpu-dev', name: 'gpu-dev-cccc0002' });
    const result = await h.schedule(expire);
    expect(result.summary.failed_dead_pod).toBe(1);
    expect((await statusOf('cccc0001-evicted')).failure_reason).toMatch(/^Pod failed: Evicted/);
    expect((await statusOf('cccc0002-oom')).status).toBe('active');
  });

  it('fails preparing after an hour in preparing and cancels a 48-hour queue (A-13)', async () => {
    await insertReservation(h.deps.pool, {
      reservation_id: 'cccc0003-prep',
      status: 'preparing',
      created_at: minutesFromNow(-600),
      status_changed_at: minutesFromNow(-61),
      pod_name: null,
    });
    await insertReservation(h.deps.pool, {
      reservation_id: 'cccc0004-prep-new',
      status: 'preparing',
      created_at: minutesFromNow(-600),
      status_changed_at: minutesFromNow(-5),
      pod_name: null,
    });
    await insertReservation(h.deps.pool, {
      reservation_id: 'cccc0005-queue',
      status: 'queued',
      status_changed_at: minutesFromNow(-49 * 60),
      pod_name: null,
    });
    const result = await h.schedule(expire);
    expect(result.summary).toMatchObject({ failed_stuck_preparing: 1, stale_cancelled: 1 });
    expect((await statusOf('cccc0004-prep-new')).status).toBe('preparing');
    expect((await statusOf('cccc0005-queue')).failure_reason).toBe('Stale reservation - exceeded 48 hour queue time');
  });

  it('stops at maxItems, most overdue first', async () => {
    await activeWithPod('dddd0001-late', { expires_at: minutesFromNow(-10) });
    await activeWithPod('dddd0002-later', { expires_at: minutesFromNow(-60) });
    const result = await h.manual(expire, { maxItems: 1 });
    expect(result.summary).toMatchObject({ expired: 1, deferred: 1 });
    expect((await statusOf('dddd0002-later')).status).toBe('expired');
  });
});

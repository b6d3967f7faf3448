/*
 * oom-scan end to end against the simulated cluster, with a real database: kills recorded once with
 * their decisions, the notice in the pod, and an event run's inbox record committed with its effect.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { oomScan } from '../../functions/oom-scan/handler.js';
import { EventTypes } from '../../shared/events/types.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertReservation } from '../support/fixtures.js';

const h = useFunctionHarness();
const pod = { namespace: 'gpu-dev', name: 'gpu-dev-oooo0001' };

async function oomState(id: string) {
  const { rows } = await h.deps.pool.query(
    'select oom_count, last_oom_at, oom_container from reservations where reservation_id = $1',
    [id],
  );
  return rows[0];
}

describe('oom-scan', () => {
  it('records each kill once, across scans and events, and writes the notice in the pod', async () => {
    await insertReservation(h.deps.pool, { reservation_id: 'oooo0001-res', pod_name: pod.name, namespace: 'gpu-dev' });
    h.sim.kube.addPod({ ...pod, labels: { 'reservation-id': 'oooo0001-res' }, containers: ['gpu-dev', 'sidecar'] });
    h.sim.kube.oomKill(pod, 'gpu-dev');
    const killedAt = h.clock.now();
    expect((await h.schedule(oomScan)).summary).toMatchObject({ oom_detected: 1, notices_sent: 1 });
    expect(await oomState('oooo0001-res')).toEqual({ oom_count: 1, last_oom_at: killedAt, oom_container: 'gpu-dev' });
    expect(h.sim.kube.readFile(pod, '/home/dev/OOM_DETECTED.txt')).toContain('OOM kills so far: 1');

    expect((await h.schedule(oomScan)).summary.oom_detected).toBe(0);
    const event = {
      type: EventTypes.podUpdated,
      source: '/apis/v1/namespaces/gpu-dev/pods',
      data: h.sim.kube.pod(pod)!,
    };
    expect((await h.event(oomScan, event as never)).summary.oom_detected).toBe(0);

    h.clock.advanceMinutes(3);
    h.sim.kube.oomKill(pod, 'gpu-dev');
    h.sim.kube.oomKill(pod, 'sidecar');
    expect((await h.event(oomScan, { ...event, data: h.sim.kube.pod(pod)! } as never)).summary.oom_detected).toBe(2);
    expect((await oomState('oooo0001-res')).oom_count).toBe(3);
  });

  it("commits the event's inbox record with the kill: a run killed inside the commit leaves neither, the retry records it once, a duplicate does nothing", async () => {
    const id = 'oooo0009-res';
    const killed = { namespace: 'gpu-dev', name: 'gpu-dev-oooo0009' };
    await insertReservation(h.deps.pool, { reservation_id: id, pod_name: killed.name, namespace: 'gpu-dev' });
    h.sim.kube.addPod({ ...killed, labels: { 'reservation-id': id } });
    h.sim.kube.oomKill(killed, 'gpu-dev');
    const event = {
      id: randomUUID(),
      type: EventTypes.podUpdated,
      source: '/apis/v1/namespaces/gpu-dev/pods',
      data: h.sim.kube.pod(killed)!,
    } as never;
    const inbox = async () =>
      Number(
        (
          await h.deps.pool.query(`select count(*) from event_inbox where consumer = 'oom-scan' and event_id = $1`, [
            (event as { id: string }).id,
          ])
        ).rows[0].count,
      );
    const writes = () =>
      h.sim.kube.execs(killed).filter((exec) => exec.argv.includes('/home/dev/OOM_DETECTED.txt')).length;
    // The decision-log insert comes after the inbox record and the kill in the commit: failing it is a run killed between them.
    await h.deps.pool
      .query(`create function fail_oom_decision() returns trigger language plpgsql as $$ begin raise exception 'killed inside the commit'; end $$;
      create trigger fail_oom_decision before insert on decision_log for each row execute function fail_oom_decision()`);
    try {
      expect((await h.event(oomScan, event)).outcome).toBe('failed');
    } finally {
      await h.deps.pool.query('drop trigger fail_oom_decision on decision_log; drop function fail_oom_decision()');
    }
    expect(await inbox()).toBe(0);
    expect((await oomState(id)).oom_count).toBe(0);
    expect(writes()).toBe(0);

    const retry = await h.event(oomScan, event);
    expect(retry).toMatchObject({ outcome: 'accepted', summary: { oom_detected: 1, notices_sent: 1 } });
    const duplicate = await h.event(oomScan, event);
    expect(duplicate.summary).toMatchObject({ duplicate_events: 1 });
    expect(duplicate.summary.oom_detected).toBeUndefined();
    expect(await inbox()).toBe(1);
    expect((await oomState(id)).oom_count).toBe(1);
    expect(writes()).toBe(1);
    const decisions = await h.deps.pool.query(
      `select action, outcome, run_id from decision_log where function = 'oom-scan' and entity_id = $1 order by decided_at, action`,
      [id],
    );
    expect(decisions.rows).toEqual([
      { action: 'notify-pod', outcome: 'applied', run_id: retry.runId },
      { action: 'record-kill', outcome: 'applied', run_id: retry.runId },
    ]);
  });
});

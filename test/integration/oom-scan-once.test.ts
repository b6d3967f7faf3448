/*
 * oom-scan's "exactly once" against the simulated cluster and a real database whose sessions run in
 * a non-UTC time zone (origin bug A-15 compared timestamp strings, which a non-UTC session breaks):
 * one kill seen before its restart and after it, by events (some duplicated) and by scans, is one
 * record; two containers killed in one pod are two records; a notice is written by one run at a time.
 */
import { describe, expect, it } from 'vitest';
import { oomScan } from '../../functions/oom-scan/handler.js';
import { EventTypes } from '../../shared/events/types.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertReservation } from '../support/fixtures.js';

const ZONE = 'America/Los_Angeles';
// Every session of this file's database, from its first statement, runs in a non-UTC zone.
const h = useFunctionHarness({}, { timeZone: ZONE });
const id = 'oooo0002-res';
const pod = { namespace: 'gpu-dev', name: 'gpu-dev-oooo0002' };

it('runs its sessions in the non-UTC zone', async () => {
  expect((await h.deps.pool.query('show timezone')).rows[0].TimeZone).toBe(ZONE);
});

const podEvent = (data: object, eventId?: string) =>
  h.event(oomScan, {
    type: EventTypes.podUpdated,
    source: '/devenv-lifecycle/pod-watch',
    ...(eventId && { id: eventId }),
    data,
  } as never);

/** The pod as the kubelet reports it in the moment between the kill and the restart. */
function beforeRestart(finishedAt: string) {
  const current = structuredClone(h.sim.kube.pod(pod)!);
  const main = current.status.containerStatuses.find((c) => c.name === 'gpu-dev')!;
  Object.assign(main, {
    restartCount: 0,
    ready: false,
    state: { terminated: { exitCode: 137, reason: 'OOMKilled', finishedAt } },
    lastState: {},
  });
  return current;
}

async function kills() {
  const { rows } = await h.deps.pool.query<{ container: string; restart_count: number }>(
    'select container, restart_count from oom_kills where reservation_id = $1 order by container, restart_count',
    [id],
  );
  return rows.map((row) => `${row.container}#${row.restart_count}`);
}

const reservation = async () =>
  (
    await h.deps.pool.query(
      'select oom_count, last_oom_at, oom_container from reservations where reservation_id = $1',
      [id],
    )
  ).rows[0];

describe('oom-scan records each kill exactly once', () => {
  it('in a non-UTC session, before and after the restart, across events, duplicates and scans', async () => {
    expect((await h.deps.pool.query('show timezone')).rows[0].TimeZone).toBe(ZONE);
    await insertReservation(h.deps.pool, { reservation_id: id, pod_name: pod.name, namespace: pod.namespace });
    h.sim.kube.addPod({ ...pod, labels: { 'reservation-id': id }, containers: ['gpu-dev', 'sidecar'] });
    const killedAt = h.clock.now(); // 12:00 UTC, the same instant as 05:00 in Los Angeles

    const early = beforeRestart('2026-06-01T05:00:00-07:00');
    expect((await podEvent(early, 'ev-early')).summary.oom_detected).toBe(1);
    h.sim.kube.oomKill(pod, 'gpu-dev'); // the restart: lastState.terminated, restartCount 1, finishedAt in UTC
    const seen = [
      await h.schedule(oomScan),
      await podEvent(h.sim.kube.pod(pod)!, 'ev-late'),
      await podEvent(h.sim.kube.pod(pod)!, 'ev-late'),
      await podEvent(early),
      await h.schedule(oomScan),
    ];
    expect(seen.map((run) => run.summary.oom_detected ?? 'duplicate')).toEqual([0, 0, 'duplicate', 0, 0]);
    expect(seen[2]!.summary.duplicate_events).toBe(1);
    expect(await kills()).toEqual(['gpu-dev#1']);
    expect(await reservation()).toEqual({ oom_count: 1, last_oom_at: killedAt, oom_container: 'gpu-dev' });
    const noticeWrites = h.sim.kube.execs(pod).filter((exec) => exec.argv.includes('/home/dev/OOM_DETECTED.txt'));
    expect(noticeWrites).toHaveLength(1);
  });

  it('two containers killed in one pod are two records, each counted', async () => {
    h.clock.advanceMinutes(7);
    h.sim.kube.oomKill(pod, 'gpu-dev');
    h.sim.kube.oomKill(pod, 'sidecar');
    expect((await podEvent(h.sim.kube.pod(pod)!)).summary.oom_detected).toBe(2);
    expect((await h.schedule(oomScan)).summary.oom_detected).toBe(0);
    expect(await kills()).toEqual(['gpu-dev#1', 'gpu-dev#2', 'sidecar#1']);
    expect(await reservation()).toMatchObject({ oom_count: 3, last_oom_at: h.clock.now() });
  });

  it('runs at the same time write a failed notice once between them: each write is claimed first', async () => {
    const other = { namespace: 'gpu-dev', name: 'gpu-dev-oooo0003' };
    await insertReservation(h.deps.pool, {
      reservation_id: 'oooo0003-res',
      pod_name: other.name,
      namespace: other.namespace,
    });
    h.sim.kube.addPod({ ...other, labels: { 'reservation-id': 'oooo0003-res' } });
    h.sim.kube.oomKill(other, 'gpu-dev');
    h.sim.faults.add({ path: new RegExp(`/pods/${other.name}/exec`), status: 500, count: 1 });
    expect((await h.schedule(oomScan)).summary).toMatchObject({ oom_detected: 1, notices_failed: 1 });
    const results = await Promise.all([h.manual(oomScan), h.manual(oomScan), podEvent(h.sim.kube.pod(other)!)]);
    expect(results.reduce((sum, run) => sum + (run.summary.notices_sent ?? 0), 0)).toBe(1);
    expect(h.sim.kube.execs(other).filter((exec) => exec.argv.includes('/home/dev/OOM_DETECTED.txt'))).toHaveLength(1);
    expect(h.sim.kube.readFile(other, '/home/dev/OOM_DETECTED.txt')).toContain('OOM kills so far: 1');
  });
});

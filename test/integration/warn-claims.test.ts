/*
 * warn claims a level in the ledger before delivering it (migration 0008). Two overlapping runs
 * deliver a level once; a claim left by a run killed between its delivery and its record blocks
 * every other run while that run could still be delivering, then the level is delivered again to
 * the pod file, without the broadcast (SPEC 2.1).
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { warn } from '../../functions/warn/handler.js';
import { DELIVER_WARNING_SCRIPT } from '../../functions/warn/deliver.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertReservation } from '../support/fixtures.js';

const h = useFunctionHarness();
const inMinutes = (minutes: number) => new Date(h.clock.now().getTime() + minutes * 60_000);

async function reservation(id: string, expiresInMinutes: number) {
  const pod = { namespace: 'gpu-dev', name: `gpu-dev-${id.slice(0, 8)}` };
  await insertReservation(h.deps.pool, {
    reservation_id: id,
    pod_name: pod.name,
    namespace: pod.namespace,
    expires_at: inMinutes(expiresInMinutes),
  });
  h.sim.kube.addPod({ ...pod, labels: { 'reservation-id': id } });
  return pod;
}

// A claim holds for the run budget plus one exec (shared/notices/claims.ts).
const leaseSeconds = () => h.deps.config.run.budgetSeconds + h.deps.config.kube.execTimeoutMs / 1000;
const fileWrites = (pod: { namespace: string; name: string }) =>
  h.sim.kube.execs(pod).filter((exec) => exec.argv[2] === DELIVER_WARNING_SCRIPT);

async function ledger(id: string) {
  const { rows } = await h.deps.pool.query(
    'select level_minutes, state, attempts from warning_ledger where reservation_id = $1 order by level_minutes',
    [id],
  );
  return rows;
}

describe('warn: claims before delivery', () => {
  it('delivers a level once when two runs overlap', async () => {
    const pod = await reservation('kkkk0001-overlap', 12);
    // Both runs have decided to warn before either checks the pod and claims: a true overlap.
    let arrived = 0;
    let bothDecided: () => void = () => undefined;
    const barrier = new Promise<void>((resolve) => (bothDecided = resolve));
    const pods = {
      ...h.deps.pods,
      podsForReservations: async (namespace: string, ids: readonly string[]) => {
        if (++arrived === 2) bothDecided();
        await barrier;
        return h.deps.pods.podsForReservations(namespace, ids);
      },
    };
    const run = () =>
      warn.handle({ kind: 'manual', callId: randomUUID(), options: warn.optionsSchema.parse({}) }, { ...h.deps, pods });
    const [first, second] = await Promise.all([run(), run()]);
    expect(first.summary.warned! + second.summary.warned!).toBe(1);
    expect(first.summary.claimed_elsewhere! + second.summary.claimed_elsewhere!).toBe(1);
    expect(fileWrites(pod)).toHaveLength(1);
    expect(await ledger('kkkk0001-overlap')).toEqual([{ level_minutes: 15, state: 'sent', attempts: 1 }]);
  });

  it('delivers again to the pod file, without a second broadcast, a level whose run was killed after claiming it', async () => {
    const pod = await reservation('kkkk0002-died', 12);
    // What a run killed between its exec and its record leaves behind: the file and the broadcast
    // may or may not have happened, and the webhook was never queued (it follows the record).
    await h.deps.pool.query(
      `insert into warning_ledger (reservation_id, expires_at, level_minutes, state, minutes_left, first_attempt_at, claimed_at)
       values ('kkkk0002-died', $1, 15, 'sending', 12, $2, $2)`,
      [inMinutes(12), h.clock.now()],
    );
    expect((await h.schedule(warn)).summary).toMatchObject({ warned: 0, redelivered: 0 });
    expect(fileWrites(pod)).toHaveLength(0);

    h.clock.advanceSeconds(leaseSeconds() + 1);
    // Publish to a sink that refuses, so the redelivery's event stays in the outbox to be seen.
    const deps = {
      ...h.deps,
      run: { ...h.deps.run, publish: { mode: 'knative' as const, sinkUrl: 'http://127.0.0.1:9/' } },
    };
    const again = await warn.handle(
      { kind: 'schedule', source: 'cron-connector', callId: randomUUID(), options: warn.optionsSchema.parse({}) },
      deps,
    );
    expect(again.summary).toMatchObject({ warned: 1, redelivered: 1 });
    // The file is in place (an idempotent write of the same warning); nobody's terminal is told twice.
    expect(h.sim.kube.listFiles(pod, '/home/dev')).toEqual(['WARN_EXPIRES_IN_11MIN.txt']);
    expect(h.sim.kube.execs(pod)).toHaveLength(1);
    expect(h.sim.kube.execs(pod)[0]!.argv).toHaveLength(5);
    expect(h.sim.kube.broadcasts(pod)).toEqual([]);
    const { rows: events } = await h.deps.pool.query(
      `select subject, data->>'levelMinutes' as level from event_outbox where type like '%reservation.warned'`,
    );
    expect(events).toEqual([{ subject: 'kkkk0002-died', level: '15' }]);
    expect(await ledger('kkkk0002-died')).toEqual([{ level_minutes: 15, state: 'sent', attempts: 2 }]);
    const { rows: decisions } = await h.deps.pool.query(
      `select function, action, outcome, inputs->>'redelivery' as redelivery from decision_log where entity_id = 'kkkk0002-died'`,
    );
    expect(decisions).toEqual([{ function: 'warn', action: 'warn', outcome: 'applied', redelivery: 'true' }]);

    // Once recorded it is not delivered again; the next level goes out as usual, with its broadcast.
    expect((await h.schedule(warn)).summary).toMatchObject({ warned: 0 });
    h.clock.advanceMinutes(7);
    expect((await h.schedule(warn)).summary).toMatchObject({ redelivered: 0 });
    expect(fileWrites(pod)).toHaveLength(1);
    expect(h.sim.kube.broadcasts(pod)).toHaveLength(1);
    expect(await ledger('kkkk0002-died')).toEqual([
      { level_minutes: 5, state: 'sent', attempts: 1 },
      { level_minutes: 15, state: 'sent', attempts: 2 },
    ]);
  });

  it('does not take over a claim that a run may still be delivering', async () => {
    await reservation('kkkk0003-fresh', 12);
    await h.deps.pool.query(
      `insert into warning_ledger (reservation_id, expires_at, level_minutes, state, minutes_left, first_attempt_at, claimed_at)
       values ('kkkk0003-fresh', $1, 15, 'sending', 12, $2, $2)`,
      [inMinutes(12), h.clock.now()],
    );
    h.clock.advanceSeconds(leaseSeconds());
    expect((await h.schedule(warn)).summary).toMatchObject({ warned: 0, redelivered: 0 });
    expect(await ledger('kkkk0003-fresh')).toEqual([{ level_minutes: 15, state: 'sending', attempts: 1 }]);
  });
});

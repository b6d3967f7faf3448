/*
 * warn claims a level in the ledger before delivering it (migration 0008). Two overlapping runs
 * deliver a level once; a run that died between its delivery and its record leaves a claim that
 * keeps the level from being delivered again, and is settled as sent once no run can still hold it.
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
  await insertReservation(h.deps.pool, { reservation_id: id, pod_name: pod.name, namespace: pod.namespace, expires_at: inMinutes(expiresInMinutes) });
  h.sim.kube.addPod({ ...pod, labels: { 'reservation-id': id } });
  return pod;
}

const fileWrites = (pod: { namespace: string; name: string }) => h.sim.kube.execs(pod).filter((exec) => exec.argv[2] === DELIVER_WARNING_SCRIPT);

async function ledger(id: string) {
  const { rows } = await h.deps.pool.query('select level_minutes, state, attempts from warning_ledger where reservation_id = $1 order by level_minutes', [id]);
  return rows;
}

describe('warn: claims before delivery', () => {
  it('delivers a level once when two runs overlap', async () => {
    const pod = await reservation('kkkk0001-overlap', 12);
    // Both runs have decided to warn before either checks the pod and claims: a true overlap.
    let arrived = 0;
    let bothDecided: () => void = () => undefined;
    const barrier = new Promise<void>((resolve) => (bothDecided = resolve));
    const pods = { ...h.deps.pods, podsForReservations: async (namespace: string, ids: readonly string[]) => {
      if (++arrived === 2) bothDecided();
      await barrier;
      return h.deps.pods.podsForReservations(namespace, ids);
    } };
    const run = () => warn.handle({ kind: 'manual', callId: randomUUID(), options: warn.optionsSchema.parse({}) }, { ...h.deps, pods });
    const [first, second] = await Promise.all([run(), run()]);
    expect(first.summary.warned! + second.summary.warned!).toBe(1);
    expect(first.summary.claimed_elsewhere! + second.summary.claimed_elsewhere!).toBe(1);
    expect(fileWrites(pod)).toHaveLength(1);
    expect(await ledger('kkkk0001-overlap')).toEqual([{ level_minutes: 15, state: 'sent', attempts: 1 }]);
  });

  it('never delivers again a level whose run died after claiming it, and settles the claim as sent later', async () => {
    const pod = await reservation('kkkk0002-died', 12);
    // What a run killed between its exec and its record leaves behind.
    await h.deps.pool.query(
      `insert into warning_ledger (reservation_id, expires_at, level_minutes, state, minutes_left, first_attempt_at, claimed_at)
       values ('kkkk0002-died', $1, 15, 'sending', 12, $2, $2)`,
      [inMinutes(12), h.clock.now()],
    );
    expect((await h.schedule(warn)).summary).toMatchObject({ warned: 0, claims_settled: 0 });
    expect(fileWrites(pod)).toHaveLength(0);

    const { budgetSeconds } = h.deps.config.run;
    h.clock.advanceSeconds(budgetSeconds + h.deps.config.kube.execTimeoutMs / 1000 + 1);
    // Publish to a sink that refuses, so the settled claim's event stays in the outbox to be seen.
    const deps = { ...h.deps, run: { ...h.deps.run, publish: { mode: 'knative' as const, sinkUrl: 'http://127.0.0.1:9/' } } };
    const settling = await warn.handle({ kind: 'schedule', source: 'cron-connector', callId: randomUUID(), options: warn.optionsSchema.parse({}) }, deps);
    expect(settling.summary).toMatchObject({ warned: 0, claims_settled: 1 });
    const { rows: events } = await h.deps.pool.query(`select subject, data->>'levelMinutes' as level from event_outbox where type like '%reservation.warned'`);
    expect(events).toEqual([{ subject: 'kkkk0002-died', level: '15' }]);
    expect(fileWrites(pod)).toHaveLength(0);
    expect(await ledger('kkkk0002-died')).toEqual([{ level_minutes: 15, state: 'sent', attempts: 1 }]);

    // The next level is still delivered.
    h.clock.advanceMinutes(7);
    await h.schedule(warn);
    expect(fileWrites(pod)).toHaveLength(1);
    expect(await ledger('kkkk0002-died')).toEqual([{ level_minutes: 5, state: 'sent', attempts: 1 }, { level_minutes: 15, state: 'sent', attempts: 1 }]);
  });

  it('does not settle a claim that a run may still be delivering', async () => {
    await reservation('kkkk0003-fresh', 12);
    await h.deps.pool.query(
      `insert into warning_ledger (reservation_id, expires_at, level_minutes, state, minutes_left, first_attempt_at, claimed_at)
       values ('kkkk0003-fresh', $1, 15, 'sending', 12, $2, $2)`,
      [inMinutes(12), h.clock.now()],
    );
    h.clock.advanceSeconds(h.deps.config.run.budgetSeconds);
    expect((await h.schedule(warn)).summary.claims_settled).toBe(0);
    expect(await ledger('kkkk0003-fresh')).toEqual([{ level_minutes: 15, state: 'sending', attempts: 1 }]);
  });
});

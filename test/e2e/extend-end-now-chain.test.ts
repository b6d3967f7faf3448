/*
 * "End now" from a warning's link leads to the normal teardown, as an expiry does: the POST ends
 * the reservation, reservation.ended-by-user travels through the outbox and the gateway to
 * cleanup-pod, which deletes the pod; a tick confirms it gone and requests the shutdown snapshot,
 * and snapshot-sync completes it. The local stack, the simulated cluster and a ManualClock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actionLinks } from '../../shared/actions/links.js';
import { startLocalStack } from '../../local/stack.js';
import type { LocalStack } from '../../local/stack.js';
import { ManualClock } from '../../shared/clock.js';
import type { Sim } from '../../sim/server.js';
import { useTestDatabase } from '../support/database.js';
import { insertDisk, insertReservation } from '../support/fixtures.js';
import { eventually } from '../support/eventually.js';

const KEY = 'e2e-signing-key-'.repeat(3);
const db = useTestDatabase();
const clock = new ManualClock('2026-06-01T12:00:00Z');
let stack: LocalStack;
let sim: Sim;

beforeAll(async () => {
  stack = await startLocalStack({
    env: {
      DATABASE_URL: db.url,
      SECRETS_DIR: '/nonexistent',
      LOG_LEVEL: 'silent',
      ACTION_BASE_URL: 'http://127.0.0.1:9/function/extend',
      ACTION_SIGNING_KEY: KEY,
    },
    port: 0,
    demo: false,
    schedules: false,
    clock,
  });
  if (!stack.cluster.simulated) throw new Error('the e2e chain needs the simulated cluster');
  sim = stack.cluster.sim;
  sim.aws.addFunction('gpu-dev-availability-updater');
});
afterAll(() => stack?.stop());

async function cronTick(fn: string): Promise<{ outcome: string; summary: Record<string, number> }> {
  const answer = await fetch(`${stack.url}/function/${fn}`, {
    method: 'POST',
    headers: { 'x-connector': 'cron-connector', 'x-topic': 'cron-function' },
  });
  expect(answer.status).toBe(200);
  return (await answer.json()) as { outcome: string; summary: Record<string, number> };
}

const one = async (sql: string, params: unknown[]) => (await db.pool.query(sql, params)).rows[0];

describe('end now → cleanup-pod → snapshot-sync in the local stack', () => {
  it('a GET changes nothing; the POST ends it and the normal teardown follows with its shutdown snapshot', async () => {
    const id = 'e4d00001-0000-4000-8000-000000000001';
    const podName = 'gpu-dev-e4d00001';
    const volumeId = 'vol-0e4d000000000001';
    const deadline = new Date(clock.now().getTime() + 20 * 60_000);
    await insertReservation(db.pool, {
      reservation_id: id,
      expires_at: deadline,
      pod_name: podName,
      namespace: 'gpu-dev',
      disk_name: 'home',
      ebs_volume_id: volumeId,
    });
    await insertDisk(db.pool, {
      user_id: 'dev@example.com',
      disk_name: 'home',
      in_use: true,
      reservation_id: id,
      ebs_volume_id: volumeId,
    });
    sim.kube.addPod({
      name: podName,
      namespace: 'gpu-dev',
      labels: { 'reservation-id': id },
      volumes: [{ name: 'home', awsElasticBlockStore: { volumeID: volumeId } }],
    });
    sim.aws.addVolume({
      volumeId,
      sizeGiB: 100,
      attachedTo: podName,
      tags: { 'gpu-dev-user': 'dev@example.com', disk_name: 'home' },
    });

    const links = await actionLinks(
      { baseUrl: `${stack.url}/function/extend`, signingKey: KEY, linkTtlMinutes: 60, defaultExtendMinutes: 120 },
      { reservationId: id, deadline, now: clock.now() },
    );
    const endNow = links.find((link) => link.action === 'end-now')!.url;
    expect((await fetch(endNow)).status).toBe(200);
    expect(await one('select status from reservations where reservation_id = $1', [id])).toEqual({ status: 'active' });

    const ended = await fetch(endNow, { method: 'POST' });
    expect(await ended.json()).toMatchObject({ status: 'done', action: 'end-now' });
    expect(await one('select status from reservations where reservation_id = $1', [id])).toEqual({
      status: 'cancelled',
    });
    await eventually(
      async () =>
        (await one('select step from cleanup_progress where reservation_id = $1', [id]))?.step === 'await_gone',
    );
    await eventually(
      async () =>
        (
          await one(
            `select outcome from function_runs where function = 'cleanup-pod' and trigger = 'event' and finished_at is not null`,
            [],
          )
        )?.outcome === 'accepted',
    );
    expect(sim.kube.pod({ namespace: 'gpu-dev', name: podName })?.metadata.deletionTimestamp).toBeTruthy();

    clock.advanceSeconds(31);
    sim.kube.tick();
    expect(await cronTick('cleanup-pod')).toMatchObject({
      outcome: 'succeeded',
      summary: { cleaned: 1, disks_released: 1 },
    });
    await eventually(
      async () => (await one(`select state, kind from snapshots where reservation_id = $1`, [id]))?.state === 'pending',
    );
    clock.advanceSeconds(61);
    expect(await cronTick('snapshot-sync')).toMatchObject({
      outcome: 'succeeded',
      summary: { snapshots_completed: 1 },
    });
    expect(await one(`select state, kind from snapshots where reservation_id = $1`, [id])).toEqual({
      state: 'completed',
      kind: 'shutdown',
    });
    const consumed = await db.pool.query(`select consumer, type from event_inbox order by consumer`);
    expect(consumed.rows).toEqual([
      { consumer: 'cleanup-pod', type: 'dev.devenv.lifecycle.reservation.ended-by-user' },
      { consumer: 'snapshot-sync', type: 'dev.devenv.lifecycle.pod.cleaned' },
    ]);
  });
});

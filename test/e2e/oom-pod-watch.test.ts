/*
 * OOM kills in the local stack, both ways they arrive. Event path: the simulator OOM-kills a
 * container, the pod-watch source sends the change through the gateway to oom-scan, and within 2
 * seconds the reservation counts the kill and the notice file is in the pod. Scan path: with the
 * pod watch stopped nothing arrives, and the next scheduled scan (a cron-connector tick) records it.
 * The same events reach expire: a pod deleted behind our back ends its reservation at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack } from '../../local/stack.js';
import type { LocalStack } from '../../local/stack.js';
import type { Sim } from '../../sim/server.js';
import { useTestDatabase } from '../support/database.js';
import { insertReservation } from '../support/fixtures.js';

const db = useTestDatabase();
let stack: LocalStack;
let sim: Sim;
const NOTICE = '/home/dev/OOM_DETECTED.txt';

beforeAll(async () => {
  stack = await startLocalStack({
    env: { DATABASE_URL: db.url, SECRETS_DIR: '/nonexistent', LOG_LEVEL: 'silent' },
    port: 0,
    demo: false,
    schedules: false,
    podWatch: true,
  });
  if (!stack.cluster.simulated) throw new Error('this test needs the simulated cluster');
  sim = stack.cluster.sim;
});
afterAll(() => stack?.stop());

/** Polls until `check` holds or `deadlineMs` has passed; the deadline is the requirement under test. */
async function within(deadlineMs: number, check: () => Promise<boolean>): Promise<boolean> {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return check();
}

async function reservationWithPod(id: string) {
  const pod = { namespace: 'gpu-dev', name: `gpu-dev-${id.slice(0, 8)}` };
  await insertReservation(db.pool, {
    reservation_id: id,
    pod_name: pod.name,
    namespace: pod.namespace,
    expires_at: new Date(Date.now() + 3_600_000),
  });
  sim.kube.addPod({ ...pod, labels: { 'reservation-id': id } });
  return pod;
}

const oomCount = async (id: string) =>
  (await db.pool.query<{ oom_count: number }>('select oom_count from reservations where reservation_id = $1', [id]))
    .rows[0]!.oom_count;

describe('OOM kills in the local stack', () => {
  it('event path: recorded and noticed in the pod within 2 seconds of the kill', async () => {
    const id = 'e2e0oom1-0000-4000-8000-000000000001';
    const pod = await reservationWithPod(id);
    expect(await within(5_000, async () => stack.podWatch!.source.ready())).toBe(true);
    sim.kube.oomKill(pod, 'gpu-dev');
    const arrived = await within(
      2_000,
      async () => (await oomCount(id)) === 1 && sim.kube.readFile(pod, NOTICE) !== undefined,
    );
    expect(arrived).toBe(true);
    expect(sim.kube.readFile(pod, NOTICE)).toContain('OOM kills so far: 1');
    const detectedBy = await db.pool.query('select detected_by from oom_kills where reservation_id = $1', [id]);
    expect(detectedBy.rows).toEqual([{ detected_by: 'event' }]);
  });

  it('the same source tells expire: a reservation whose pod is deleted behind our back ends within 2 seconds', async () => {
    const id = 'e2e0oom3-0000-4000-8000-000000000003';
    const pod = await reservationWithPod(id);
    await new Promise((resolve) => setTimeout(resolve, 100)); // let the pod's own add event pass first
    sim.kube.deleteBehindOurBack(pod);
    const status = async () =>
      (await db.pool.query<{ status: string }>('select status from reservations where reservation_id = $1', [id]))
        .rows[0]!.status;
    expect(await within(2_000, async () => (await status()) === 'expired')).toBe(true);
    const inbox = await db.pool.query(
      `select type from event_inbox where consumer = 'expire' and source = '/devenv-lifecycle/pod-watch' and type like '%.delete'`,
    );
    expect(inbox.rowCount).toBeGreaterThanOrEqual(1);
  });

  it('scan path: with the pod watch stopped, the next scheduled scan records the kill', async () => {
    await stack.podWatch!.stop(2_000);
    const id = 'e2e0oom2-0000-4000-8000-000000000002';
    const pod = await reservationWithPod(id);
    sim.kube.oomKill(pod, 'gpu-dev');
    expect(await oomCount(id)).toBe(0);
    const tick = await fetch(`${stack.url}/function/oom-scan`, {
      method: 'POST',
      headers: { 'x-connector': 'cron-connector', 'x-topic': 'cron-function' },
    });
    expect(tick.status).toBe(200);
    expect(await tick.json()).toMatchObject({ outcome: 'succeeded', summary: { oom_detected: 1, notices_sent: 1 } });
    expect(await oomCount(id)).toBe(1);
    expect(sim.kube.readFile(pod, NOTICE)).toContain('OOM kills so far: 1');
    const detectedBy = await db.pool.query('select detected_by from oom_kills where reservation_id = $1', [id]);
    expect(detectedBy.rows).toEqual([{ detected_by: 'scan' }]);
  });
});

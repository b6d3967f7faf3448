/*
 * A pod cleanup-pod deleted is read back in the same run once its grace period has passed, when
 * the run can wait that long and still start a group (issue 18): most teardowns then finish in the
 * run that started them, within ≤ 6 Kubernetes calls and ≤ 4 SQL statements per reservation. A
 * grace end past the run's stop point is not waited for, and a pod still there after the wait is
 * not taken for gone. The clock here can be waited on, as the system clock can: waiting moves it
 * and the simulated kubelet finishes the pods whose grace ended (or, when told, does not).
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cleanupPod } from '../../functions/cleanup-pod/handler.js';
import { useFunctionHarness } from '../support/function-harness.js';
import {
  diskOf,
  seedEndedReservation,
  teardownOf,
  transitionsOf,
  withClockJumpAtFirstRequest,
} from './cleanup-pod-seed.js';

const h = useFunctionHarness();
const NS = 'gpu-dev';
const FULL_ORDER = [
  'delete_resources->await_gone',
  'await_gone->await_detach',
  'await_detach->request_snapshot',
  'request_snapshot->release_disk',
  'release_disk->verify',
  'verify->done',
];

const waits: Date[] = [];
let kubeletFinishes = true;
beforeEach(() => {
  waits.length = 0;
  kubeletFinishes = true;
  Object.assign(h.clock, {
    waitUntil: async (at: Date) => {
      waits.push(at);
      h.clock.set(at);
      if (kubeletFinishes) h.sim.kube.tick();
    },
  });
});
afterEach(() => {
  delete (h.clock as { waitUntil?: unknown }).waitUntil;
});

let statements = 0;
const clientQuery = pg.Client.prototype.query;
beforeAll(() => {
  pg.Client.prototype.query = function countedQuery(this: pg.Client, ...args: unknown[]) {
    statements += 1;
    return (clientQuery as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof pg.Client.prototype.query;
});
afterAll(() => {
  pg.Client.prototype.query = clientQuery;
});

const podReads = (podName: string) =>
  h.sim.requests.all().filter((q) => q.method === 'GET' && q.path === `/api/v1/namespaces/${NS}/pods/${podName}`);
const kubeCalls = (from: number) =>
  h.sim.requests
    .all()
    .slice(from)
    .filter((q) => q.path.startsWith('/api/') || q.path.startsWith('/apis/'));

describe('cleanup-pod reads back the pod it deleted in the same run', () => {
  it('finishes a teardown in the run that deleted its pod, reading the pod once its grace period has passed', async () => {
    const r = await seedEndedReservation(h);
    const deletedAt = h.clock.now().getTime();
    const result = await h.schedule(cleanupPod);
    expect(result.summary).toMatchObject({
      resources_deleted: 1,
      pods_gone: 1,
      cleaned: 1,
      disks_released: 1,
      retrying: 0,
    });
    expect(await teardownOf(h, r.id)).toMatchObject({ step: 'done' });
    expect(await transitionsOf(h, r.id)).toEqual(FULL_ORDER);
    expect(await diskOf(h, r.diskId)).toEqual({ in_use: false, reservation_id: null });
    // One wait, to the end of the 30 s grace period the delete asked for (and a small margin).
    expect(waits.map((at) => (at.getTime() - deletedAt) / 1000)).toEqual([32]);
    expect(podReads(r.podName)).toHaveLength(1);
  });

  it('tears down a sweep of 20 in one run within ≤ 6 Kubernetes calls and ≤ 4 SQL statements per reservation', async () => {
    const seeded = [];
    for (let i = 0; i < 20; i++) seeded.push(await seedEndedReservation(h));
    const before = h.sim.requests.all().length;
    const statementsBefore = statements;
    h.sim.aws.clear();
    const result = await h.schedule(cleanupPod);
    expect(result.summary).toMatchObject({ claimed: 20, cleaned: 20, disks_released: 20 });
    for (const r of seeded) expect(await teardownOf(h, r.id)).toMatchObject({ step: 'done' });
    expect(waits).toHaveLength(1);
    expect(kubeCalls(before).length / seeded.length).toBeLessThanOrEqual(6);
    expect((statements - statementsBefore) / seeded.length).toBeLessThanOrEqual(4);
    expect(h.sim.aws.calls().filter((c) => c.action === 'DescribeVolumes')).toHaveLength(1);
  });

  it('does not wait for a grace period that ends past the point where the run stops starting groups', async () => {
    const r = await seedEndedReservation(h, { volume: false });
    // 10 s of the 50 s budget pass as soon as the run reaches the cluster: 10 + 32 s is past 80%.
    const result = await withClockJumpAtFirstRequest(h, 10, () => h.schedule(cleanupPod));
    expect(result.summary).toMatchObject({ resources_deleted: 1, pods_gone: 0, retrying: 1 });
    expect(waits).toEqual([]);
    expect(podReads(r.podName)).toEqual([]);
    expect(await teardownOf(h, r.id)).toMatchObject({ step: 'await_gone', last_error: 'pod still terminating' });
  });

  it('does not take a pod still there after the wait for gone: the teardown waits, the disk stays held', async () => {
    const r = await seedEndedReservation(h);
    kubeletFinishes = false;
    const result = await h.schedule(cleanupPod);
    expect(result.summary).toMatchObject({ resources_deleted: 1, pods_gone: 0, retrying: 1, disks_released: 0 });
    expect(waits).toHaveLength(1);
    expect(podReads(r.podName)).toHaveLength(1);
    expect(await teardownOf(h, r.id)).toMatchObject({ step: 'await_gone', last_error: 'pod still terminating' });
    expect((await diskOf(h, r.diskId)).in_use).toBe(true);
    expect(h.sim.kube.pod({ namespace: NS, name: r.podName })?.metadata.deletionTimestamp).toBeTruthy();

    h.sim.kube.tick();
    h.clock.advanceSeconds(31);
    expect((await h.schedule(cleanupPod)).summary).toMatchObject({ cleaned: 1, disks_released: 1 });
  });
});

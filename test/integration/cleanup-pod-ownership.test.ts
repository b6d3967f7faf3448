/*
 * cleanup-pod deletes only what provably belongs to the reservation (issue 14 items 1, 3, 7):
 * a pod or service under the reservation's name that carries another reservation's label, or no
 * owner at all, is left alone, logged and counted; the object judged is the object deleted (uid
 * precondition); an id that cannot be a label value is torn down by name with proof from an
 * annotation; a graceful delete whose answer was lost is followed by a read, never by grace 0.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { cleanupPod } from '../../functions/cleanup-pod/handler.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertDisk, insertReservation } from '../support/fixtures.js';
import {
  leftAloneOf,
  seedEndedReservation,
  snapshotRequestsOf,
  teardownOf,
  transitionsOf,
  useAcceptingGateway,
} from './cleanup-pod-seed.js';

const gateway = useAcceptingGateway();
const h = useFunctionHarness(() => ({ EVENT_DELIVERY: 'openfaas', OPENFAAS_GATEWAY_URL: gateway.url }));
const NS = 'gpu-dev';

beforeEach(() => {
  h.sim.faults.clear();
  h.sim.aws.clearFaults();
});

const deletesOf = (path: string) => h.sim.requests.all().filter((q) => q.method === 'DELETE' && q.path === path);
const podPath = (name: string) => `/api/v1/namespaces/${NS}/pods/${name}`;
const servicePath = (name: string) => `/api/v1/namespaces/${NS}/services/${name}`;
const statusOf = async (id: string) =>
  (await h.deps.pool.query('select status from reservations where reservation_id = $1', [id])).rows[0]
    ?.status as string;
const snapshotRequests = (id: string) => snapshotRequestsOf(h, id);

async function foreignCount(owner: 'other' | 'none', kind: 'pod' | 'service'): Promise<number> {
  const values = (await h.deps.metrics.foreignObjects.get()).values;
  return (
    values.find((v) => v.labels.function === 'cleanup-pod' && v.labels.owner === owner && v.labels.kind === kind)
      ?.value ?? 0
  );
}

/** Runs until the teardown is done or `runs` schedules have passed, the simulated kubelet finishing pods between runs. */
async function runTeardown(id: string, runs = 4): Promise<void> {
  for (let run = 0; run < runs && (await teardownOf(h, id))?.step !== 'done'; run++) {
    await h.schedule(cleanupPod);
    h.clock.advanceSeconds(31);
    h.sim.kube.tick();
  }
}

describe('cleanup-pod and a pod name two reservations share (item 1)', () => {
  it("leaves the other reservation's live pod and service alone, counts and logs them, and the other reservation stays active", async () => {
    const endedId = 'aaaa0001-0000-4000-8000-00000000000a';
    const liveId = 'aaaa0001-0000-4000-8000-00000000000b';
    const podName = 'gpu-dev-aaaa0001';
    await insertReservation(h.deps.pool, {
      reservation_id: endedId,
      status: 'expired',
      pod_name: podName,
      namespace: NS,
      status_changed_at: h.clock.now(),
    });
    await insertReservation(h.deps.pool, {
      reservation_id: liveId,
      status: 'active',
      pod_name: podName,
      namespace: NS,
    });
    h.sim.kube.addPod({ name: podName, namespace: NS, labels: { 'reservation-id': liveId } });
    h.sim.kube.addService({ name: `${podName}-ssh`, namespace: NS, labels: { 'reservation-id': liveId } });
    const before = { pods: await foreignCount('other', 'pod'), services: await foreignCount('other', 'service') };

    await runTeardown(endedId);

    expect(await teardownOf(h, endedId)).toMatchObject({ step: 'done' });
    expect(deletesOf(podPath(podName))).toEqual([]);
    expect(deletesOf(servicePath(`${podName}-ssh`))).toEqual([]);
    expect(h.sim.kube.pod({ namespace: NS, name: podName })?.metadata.deletionTimestamp).toBeFalsy();
    expect(await statusOf(liveId)).toBe('active');
    expect(await leftAloneOf(h, endedId)).toEqual([`left_alone:pod/${podName}`, `left_alone:service/${podName}-ssh`]);
    expect({
      pods: (await foreignCount('other', 'pod')) - before.pods,
      services: (await foreignCount('other', 'service')) - before.services,
    }).toEqual({ pods: 1, services: 1 });
    const logged = await h.deps.pool.query(
      `select reason, inputs from decision_log where entity_id = $1 and action = $2`,
      [endedId, `left_alone:pod/${podName}`],
    );
    expect(logged.rows[0]).toMatchObject({
      reason: expect.stringContaining(liveId),
      inputs: { owner: 'other', claimedBy: liveId },
    });
  });

  it('leaves a pod under the name that names no owner alone, and still finishes the teardown', async () => {
    const r = await seedEndedReservation(h, { volume: false });
    h.sim.kube.deleteBehindOurBack({ namespace: NS, name: r.podName });
    h.sim.kube.addPod({ name: r.podName, namespace: NS, labels: { app: 'something-else' } });
    const before = await foreignCount('none', 'pod');

    await runTeardown(r.id);

    expect(await teardownOf(h, r.id)).toMatchObject({ step: 'done' });
    expect(deletesOf(podPath(r.podName))).toEqual([]);
    expect(h.sim.kube.pod({ namespace: NS, name: r.podName })?.metadata.deletionTimestamp).toBeFalsy();
    expect(await foreignCount('none', 'pod')).toBe(before + 1);
    expect(await leftAloneOf(h, r.id)).toContain(`left_alone:pod/${r.podName}`);
  });

  it('still deletes its own pod, and the origin-style `<pod>-ssh` service that selects it', async () => {
    const r = await seedEndedReservation(h, { volume: false });
    await h.schedule(cleanupPod);
    expect(h.sim.kube.pod({ namespace: NS, name: r.podName })?.metadata.deletionTimestamp).toBeTruthy();
    expect(h.sim.kube.list('services', NS).map((s) => s.metadata.name)).not.toContain(`${r.podName}-ssh`);
    expect(await leftAloneOf(h, r.id)).toEqual([]);
  });

  it('deletes only the pod it judged: a pod put under the name between the read and the delete survives', async () => {
    const r = await seedEndedReservation(h, { volume: false });
    const newcomer = 'aaaa0002-0000-4000-8000-00000000000b';
    h.sim.faults.add({ method: 'DELETE', path: podPath(r.podName), delayMs: 1000, count: 1 });
    const run = h.schedule(cleanupPod);
    // The delete has left with the first pod's uid; meanwhile the name passes to another reservation's pod.
    while (deletesOf(podPath(r.podName)).length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    h.sim.kube.deleteBehindOurBack({ namespace: NS, name: r.podName });
    h.sim.kube.addPod({ name: r.podName, namespace: NS, labels: { 'reservation-id': newcomer } });
    await run;

    expect(h.sim.kube.pod({ namespace: NS, name: r.podName })?.metadata).toMatchObject({
      labels: { 'reservation-id': newcomer },
    });
    expect(h.sim.kube.pod({ namespace: NS, name: r.podName })?.metadata.deletionTimestamp).toBeFalsy();
    expect(await teardownOf(h, r.id)).toMatchObject({
      step: 'delete_resources',
      last_error: expect.stringContaining('Precondition failed'),
    });
  });
});

describe('cleanup-pod when the pod cannot be read', () => {
  it('does not report its origin-style ssh service as unowned, and deletes it once the pod is readable', async () => {
    const r = await seedEndedReservation(h, { volume: false });
    const before = await foreignCount('none', 'service');
    h.sim.faults.add({ method: 'GET', path: /\/namespaces\/gpu-dev\/pods\?/, status: 503, count: 1 });
    await h.schedule(cleanupPod);
    expect(await teardownOf(h, r.id)).toMatchObject({ step: 'delete_resources' });
    expect(await foreignCount('none', 'service')).toBe(before);
    expect(await leftAloneOf(h, r.id)).toEqual([]);

    h.clock.advanceSeconds(31);
    await h.schedule(cleanupPod);
    expect(h.sim.kube.list('services', NS).map((s) => s.metadata.name)).not.toContain(`${r.podName}-ssh`);
  });
});

describe('cleanup-pod and an id that is not a label value (item 3)', () => {
  const oddIds = [
    ['over 63 characters', `${'d'.repeat(70)}`],
    ['quotes, spaces and $', `dd"q' $HOME x`],
    ['a newline', 'dddd\nnewline'],
  ];

  it.each(oddIds)(
    'tears down a reservation whose id has %s: deletes its annotated pod by name, snapshots and releases its disk',
    async (_kind, id) => {
      const podName = `gpu-dev-odd${String(oddIds.findIndex(([, i]) => i === id))}`;
      const volumeId = `vol-0dd00000000000${String(oddIds.findIndex(([, i]) => i === id))}`;
      await insertReservation(h.deps.pool, {
        reservation_id: id,
        status: 'cancelled',
        pod_name: podName,
        namespace: NS,
        ebs_volume_id: volumeId,
        disk_name: `odd-${podName}`,
        status_changed_at: h.clock.now(),
      });
      await insertDisk(h.deps.pool, {
        user_id: 'dev@example.com',
        disk_name: `odd-${podName}`,
        in_use: true,
        reservation_id: id,
        ebs_volume_id: volumeId,
      });
      h.sim.kube.addPod({
        name: podName,
        namespace: NS,
        annotations: { 'reservation-id': id },
        volumes: [{ name: 'home', awsElasticBlockStore: { volumeID: volumeId } }],
      });
      h.sim.aws.addVolume({ volumeId, sizeGiB: 10, attachedTo: podName });

      await runTeardown(id);

      expect(await teardownOf(h, id)).toMatchObject({ step: 'done' });
      expect(deletesOf(podPath(podName))).toHaveLength(1);
      expect(h.sim.kube.pod({ namespace: NS, name: podName })).toBeUndefined();
      expect(await snapshotRequests(id)).toEqual([expect.objectContaining({ volumeId })]);
      expect(
        (await h.deps.pool.query('select reservation_id from disks where disk_name = $1', [`odd-${podName}`])).rows[0],
      ).toEqual({ reservation_id: null });
      // Nothing was asked with a selector the API server refuses.
      expect(
        h.sim.requests
          .all()
          .filter(
            (q) =>
              (q.query.get('labelSelector') ?? '').includes(id.slice(0, 4)) &&
              q.query.get('labelSelector') !== 'reservation-id',
          ),
      ).toEqual([]);
    },
  );

  it('leaves an unannotated pod under such a name alone, and waits on its volume instead of looping on the selector', async () => {
    const id = 'ee"e e\n$x';
    const podName = 'gpu-dev-oddnone';
    const volumeId = 'vol-0dd0000000000099';
    await insertReservation(h.deps.pool, {
      reservation_id: id,
      status: 'expired',
      pod_name: podName,
      namespace: NS,
      ebs_volume_id: volumeId,
      disk_name: 'odd-none',
      status_changed_at: h.clock.now(),
    });
    await insertDisk(h.deps.pool, {
      user_id: 'dev@example.com',
      disk_name: 'odd-none',
      in_use: true,
      reservation_id: id,
      ebs_volume_id: volumeId,
    });
    h.sim.kube.addPod({
      name: podName,
      namespace: NS,
      volumes: [{ name: 'home', awsElasticBlockStore: { volumeID: volumeId } }],
    });
    h.sim.aws.addVolume({ volumeId, sizeGiB: 10, attachedTo: podName });

    await runTeardown(id);

    expect(deletesOf(podPath(podName))).toEqual([]);
    expect(await transitionsOf(h, id)).toEqual(['delete_resources->await_gone', 'await_gone->await_detach']);
    expect(await teardownOf(h, id)).toMatchObject({
      step: 'await_detach',
      last_error: expect.stringContaining('volume still attached'),
    });
    expect(await snapshotRequests(id)).toEqual([]);
    expect(await leftAloneOf(h, id)).toEqual([`left_alone:pod/${podName}`]);
  });
});

describe('cleanup-pod when a delete answer is lost (item 7)', () => {
  it('reads the pod after a timed-out graceful delete and never deletes with grace 0 before the grace period', async () => {
    const r = await seedEndedReservation(h, { volume: false });
    // Longer than the client's 3 s request timeout: the answer never comes (and the simulator drops the request).
    h.sim.faults.add({ method: 'DELETE', path: podPath(r.podName), delayMs: 3500, count: 1 });
    await h.schedule(cleanupPod);

    const podRequests = h.sim.requests.all().filter((q) => q.path === podPath(r.podName));
    expect(podRequests.map((q) => q.method)).toEqual(['DELETE', 'GET']);
    expect(podRequests.filter((q) => q.query.get('gracePeriodSeconds') === '0')).toEqual([]);
    expect(await teardownOf(h, r.id)).toMatchObject({
      step: 'delete_resources',
      last_error: expect.stringContaining('no answer'),
    });

    h.clock.advanceSeconds(31);
    await h.schedule(cleanupPod);
    expect(deletesOf(podPath(r.podName)).map((q) => q.query.get('gracePeriodSeconds'))).toEqual(['30', '30']);
    expect(await teardownOf(h, r.id)).toMatchObject({ step: 'await_gone' });
  }, 20_000);

  it('deletes its own pod that is found running in await_gone gracefully again, never with grace 0', async () => {
    const r = await seedEndedReservation(h, { volume: false });
    await h.schedule(cleanupPod);
    // Recreated under the name with the reservation's label (say, by a controller) while the teardown waited.
    h.sim.kube.deleteBehindOurBack({ namespace: NS, name: r.podName });
    h.sim.kube.addPod({ name: r.podName, namespace: NS, labels: { 'reservation-id': r.id } });
    for (let run = 0; run < 12; run++) {
      // six minutes: past the five after which a stuck pod is forced
      h.clock.advanceSeconds(31);
      h.sim.kube.tick(); // a terminating pod finishes; a running one stays
      await h.schedule(cleanupPod);
    }
    expect(deletesOf(podPath(r.podName)).map((q) => q.query.get('gracePeriodSeconds'))).toEqual(['30', '30']);
    expect(await transitionsOf(h, r.id)).toContain('await_gone->delete_resources');
    expect(h.sim.kube.pod({ namespace: NS, name: r.podName })).toBeUndefined();
    expect(await teardownOf(h, r.id)).toMatchObject({ step: 'done' });
  });
});

/*
 * cleanup-pod and the disk (issue 14 items 4 and 8): a volume whose disk another reservation holds
 * is never waited on, snapshotted or released by this teardown, which finishes and says why; every
 * EC2 volume and attachment state is handled on purpose, against the simulator's states; a wait
 * past TEARDOWN_ESCALATE_MINUTES escalates (metric, decision-log entry) and never becomes progress.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { cleanupPod } from '../../functions/cleanup-pod/handler.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertReservation } from '../support/fixtures.js';
import {
  diskOf,
  seedEndedReservation,
  snapshotRequestsOf,
  teardownOf,
  transitionsOf,
  useAcceptingGateway,
} from './cleanup-pod-seed.js';
import type { EndedReservation } from './cleanup-pod-seed.js';

const gateway = useAcceptingGateway();
const h = useFunctionHarness(() => ({
  EVENT_DELIVERY: 'openfaas',
  OPENFAAS_GATEWAY_URL: gateway.url,
  TEARDOWN_ESCALATE_MINUTES: '30',
}));
const NS = 'gpu-dev';

beforeEach(() => {
  h.sim.faults.clear();
  h.sim.aws.clearFaults();
});

/** The first run deletes the pod; the simulated kubelet then finishes it (and the volume detaches). */
async function podDeletedAndGone(r: EndedReservation): Promise<void> {
  await h.schedule(cleanupPod);
  h.clock.advanceSeconds(31);
  h.sim.kube.tick();
  expect(h.sim.kube.pod({ namespace: NS, name: r.podName })).toBeUndefined();
}

const volumeCalls = (volumeId: string) =>
  h.sim.aws
    .calls()
    .filter((call) => call.action === 'DescribeVolumes' && JSON.stringify(call.params).includes(volumeId));
const reasonOf = async (id: string, action: string) =>
  (
    await h.deps.pool.query(`select reason from decision_log where entity_id = $1 and action = $2`, [id, action])
  ).rows.map((row) => row.reason as string);

async function escalations(): Promise<number> {
  const values = (await h.deps.metrics.actions.get()).values;
  return (
    values.find(
      (v) =>
        v.labels.function === 'cleanup-pod' && v.labels.kind === 'await_detach' && v.labels.outcome === 'escalated',
    )?.value ?? 0
  );
}

describe("cleanup-pod and a disk that moved to the user's newer reservation (item 4)", () => {
  it('finishes without waiting on, snapshotting or releasing the volume, and records why', async () => {
    const r = await seedEndedReservation(h);
    const newer = `bbbb${r.id.slice(4)}`;
    await insertReservation(h.deps.pool, {
      reservation_id: newer,
      status: 'active',
      pod_name: 'gpu-dev-bbbbnew',
      namespace: NS,
    });
    await h.deps.pool.query('update disks set reservation_id = $2 where disk_id = $1', [r.diskId, newer]);
    await podDeletedAndGone(r);
    h.sim.aws.attachVolume(r.volumeId!, 'gpu-dev-bbbbnew'); // the newer reservation's pod mounts it

    await h.schedule(cleanupPod);

    expect(await teardownOf(h, r.id)).toMatchObject({ step: 'done' });
    expect(await transitionsOf(h, r.id)).toEqual([
      'delete_resources->await_gone',
      'await_gone->await_detach',
      'await_detach->release_disk',
      'release_disk->verify',
      'verify->done',
    ]);
    expect((await reasonOf(r.id, 'await_detach->release_disk'))[0]).toContain(`held by reservation "${newer}"`);
    expect(await snapshotRequestsOf(h, r.id)).toEqual([]);
    expect(volumeCalls(r.volumeId!)).toEqual([]); // not even waited on
    expect(await diskOf(h, r.diskId)).toEqual({ in_use: true, reservation_id: newer });
  });

  it('does not request a shutdown snapshot for a disk it no longer holds when it reaches request_snapshot', async () => {
    const r = await seedEndedReservation(h);
    await podDeletedAndGone(r);
    // A stale teardown: the disk moved on and was released by the newer reservation's own teardown.
    await h.deps.pool.query(
      `update cleanup_progress set step = 'request_snapshot', next_attempt_at = $2 where reservation_id = $1`,
      [r.id, h.clock.now()],
    );
    await h.deps.pool.query('update disks set reservation_id = null, in_use = false where disk_id = $1', [r.diskId]);

    await h.schedule(cleanupPod);

    expect(await teardownOf(h, r.id)).toMatchObject({ step: 'done' });
    expect(await snapshotRequestsOf(h, r.id)).toEqual([]);
    expect((await reasonOf(r.id, 'request_snapshot->release_disk'))[0]).toContain('no snapshot for this reservation');
  });

  it("treats a volume with no disk row as the reservation's own: waits for it and requests its snapshot", async () => {
    const r = await seedEndedReservation(h);
    await h.deps.pool.query('delete from disks where disk_id = $1', [r.diskId]);
    await podDeletedAndGone(r);
    await h.schedule(cleanupPod);
    expect(await teardownOf(h, r.id)).toMatchObject({ step: 'done' });
    expect(volumeCalls(r.volumeId!).length).toBeGreaterThan(0);
    expect(await snapshotRequestsOf(h, r.id)).toEqual([expect.objectContaining({ volumeId: r.volumeId })]);
  });

  it('still requests the snapshot of a disk it holds (the check does not fire on its own disk)', async () => {
    const r = await seedEndedReservation(h);
    await podDeletedAndGone(r);
    await h.schedule(cleanupPod);
    expect(await teardownOf(h, r.id)).toMatchObject({ step: 'done' });
    expect(await snapshotRequestsOf(h, r.id)).toEqual([expect.objectContaining({ volumeId: r.volumeId })]);
  });
});

describe('cleanup-pod and EC2 volume states (item 8)', () => {
  it.each([
    ['creating', () => 'creating' as const, 'still being created'],
    ['in-use', () => 'in-use' as const, 'volume still attached'],
    ['deleting', () => 'deleting' as const, 'being deleted'],
    ['error', () => 'error' as const, 'error state'],
  ])(
    'waits at await_detach while the volume is %s, then goes on once it is available',
    async (_name, state, reason) => {
      const r = await seedEndedReservation(h);
      await podDeletedAndGone(r);
      h.sim.aws.setVolumeState(r.volumeId!, state());
      for (let run = 0; run < 2; run++) {
        await h.schedule(cleanupPod);
        h.clock.advanceSeconds(31);
      }
      expect(await teardownOf(h, r.id)).toMatchObject({
        step: 'await_detach',
        last_error: expect.stringContaining(reason),
      });
      expect(await snapshotRequestsOf(h, r.id)).toEqual([]);
      expect((await diskOf(h, r.diskId)).in_use).toBe(true);

      h.sim.aws.setVolumeState(r.volumeId!, 'available');
      await h.schedule(cleanupPod);
      expect(await teardownOf(h, r.id)).toMatchObject({ step: 'done' });
      expect(await snapshotRequestsOf(h, r.id)).toHaveLength(1);
    },
  );

  it.each(['attaching', 'attached', 'detaching'] as const)(
    'waits while EC2 lists an attachment %s on an in-use volume',
    async (attachment) => {
      const r = await seedEndedReservation(h);
      await podDeletedAndGone(r);
      h.sim.aws.setVolumeState(r.volumeId!, 'in-use');
      h.sim.aws.setAttachmentState(r.volumeId!, attachment);
      await h.schedule(cleanupPod);
      expect(await teardownOf(h, r.id)).toMatchObject({
        step: 'await_detach',
        last_error: expect.stringContaining(attachment),
      });
      expect(await snapshotRequestsOf(h, r.id)).toEqual([]);
      h.sim.aws.setAttachmentState(r.volumeId!, 'detached');
      h.clock.advanceSeconds(31);
      await h.schedule(cleanupPod); // leaves nothing waiting for the tests after it
      expect(await teardownOf(h, r.id)).toMatchObject({ step: 'done' });
    },
  );

  it('goes on when the attachment EC2 still lists is detached and the volume is available', async () => {
    const r = await seedEndedReservation(h);
    await podDeletedAndGone(r);
    h.sim.aws.setVolumeState(r.volumeId!, 'in-use');
    h.sim.aws.setAttachmentState(r.volumeId!, 'detached');
    expect(h.sim.aws.volume(r.volumeId!)).toMatchObject({ state: 'available' });
    await h.schedule(cleanupPod);
    expect(await teardownOf(h, r.id)).toMatchObject({ step: 'done' });
    expect(await snapshotRequestsOf(h, r.id)).toHaveLength(1);
  });

  it("reads the sweep's volumes together, and a volume EC2 refuses leaves only its own teardown waiting", async () => {
    const good = await seedEndedReservation(h);
    const bad = await seedEndedReservation(h);
    await h.deps.pool.query(`update reservations set ebs_volume_id = 'vol-NOT-AN-ID' where reservation_id = $1`, [
      bad.id,
    ]);
    await podDeletedAndGone(good);
    h.sim.aws.clear();
    await h.schedule(cleanupPod);
    expect(await teardownOf(h, good.id)).toMatchObject({ step: 'done' });
    expect(await snapshotRequestsOf(h, good.id)).toHaveLength(1);
    expect(await teardownOf(h, bad.id)).toMatchObject({
      step: 'await_detach',
      last_error: expect.stringContaining('could not read the volume'),
    });
    expect(await snapshotRequestsOf(h, bad.id)).toEqual([]);
    expect((await diskOf(h, bad.diskId)).in_use).toBe(true);
    const filtered = h.sim.aws
      .calls()
      .filter((c) => c.action === 'DescribeVolumes' && Object.values(c.params).includes('volume-id'));
    expect(filtered).toHaveLength(1);
    expect(Object.values(filtered[0]!.params)).toEqual(expect.arrayContaining([good.volumeId, 'vol-NOT-AN-ID']));
  });

  it('goes on without a snapshot when the volume was deleted', async () => {
    const r = await seedEndedReservation(h);
    await podDeletedAndGone(r);
    h.sim.aws.setVolumeState(r.volumeId!, 'deleted');
    await h.schedule(cleanupPod);
    expect(await teardownOf(h, r.id)).toMatchObject({ step: 'done' });
    expect(await snapshotRequestsOf(h, r.id)).toEqual([]);
    expect((await reasonOf(r.id, 'await_detach->release_disk'))[0]).toContain('deleted');
  });

  it('escalates a volume stuck attached past TEARDOWN_ESCALATE_MINUTES, keeps waiting, and retries less often', async () => {
    const r = await seedEndedReservation(h);
    await podDeletedAndGone(r);
    h.sim.aws.attachVolume(r.volumeId!, 'stuck-node');
    const before = await escalations();
    const escalatedFor = async () =>
      (
        await h.deps.pool.query(
          `select count(*)::int as n from decision_log where entity_id = $1 and action = 'await_detach:escalated'`,
          [r.id],
        )
      ).rows[0].n as number;
    for (let minute = 0; minute < 29; minute += 1) {
      await h.schedule(cleanupPod);
      h.clock.advanceSeconds(60);
    }
    expect(await escalatedFor()).toBe(0);

    h.clock.advanceSeconds(120);
    const result = await h.schedule(cleanupPod);
    expect(result.summary.escalated).toBeGreaterThanOrEqual(1);
    expect(await escalations()).toBeGreaterThan(before);
    expect(await teardownOf(h, r.id)).toMatchObject({
      step: 'await_detach',
      last_error: expect.stringContaining('escalated'),
    });
    const logged = await h.deps.pool.query(
      `select outcome, reason from decision_log where entity_id = $1 and action = 'await_detach:escalated'`,
      [r.id],
    );
    expect(logged.rows).toEqual([{ outcome: 'failed', reason: expect.stringContaining('volume still attached') }]);
    const {
      rows: [due],
    } = await h.deps.pool.query('select next_attempt_at from cleanup_progress where reservation_id = $1', [r.id]);
    expect((due.next_attempt_at as Date).getTime() - h.clock.now().getTime()).toBe(600_000);
    expect(await snapshotRequestsOf(h, r.id)).toEqual([]);
  });
});

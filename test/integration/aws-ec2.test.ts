/*
 * shared/aws EC2 operations round-tripping through the real SDK client and the simulator.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Conflict, NotFound } from '../../shared/errors.js';
import type { Ec2Api } from '../../shared/aws/ec2.js';
import { createEc2Api } from '../../shared/aws/ec2.js';
import type { AwsHarness } from './aws-harness.js';
import { startAwsHarness } from './aws-harness.js';

let h: AwsHarness;
let ec2: Ec2Api;
beforeAll(async () => {
  h = await startAwsHarness();
  ec2 = createEc2Api(h.ec2Client, { pageSize: 5 });
});
afterAll(async () => {
  await h.close();
});
beforeEach(() => {
  h.sim.reset();
});

const someVolume = 'vol-0000000000000abcd';
const idsIn = (calls: { params: Record<string, string> }[]) =>
  calls.map((c) => Object.keys(c.params).filter((k) => k.startsWith('SnapshotId.')).length);

describe('snapshots', () => {
  it('creates a tagged snapshot and follows it from pending to completed', async () => {
    const { volumeId } = h.sim.addVolume({ sizeGiB: 100 });
    const tags = {
      Name: 'gpu-dev-shutdown-alice-1772366400',
      'gpu-dev-user': 'alice',
      'managed-by': 'devenv-lifecycle',
    };
    const created = await ec2.createSnapshot({ volumeId, description: 'shutdown snapshot', tags });
    expect(created).toEqual({
      snapshotId: expect.stringMatching(/^snap-/),
      volumeId,
      state: 'pending',
      startTime: h.clock.now(),
      tags,
      volumeSizeGiB: 100,
      description: 'shutdown snapshot',
    });

    h.clock.advanceSeconds(59);
    expect((await ec2.describeSnapshotsByIds([created.snapshotId])).found[0]?.state).toBe('pending');
    h.clock.advanceSeconds(1);
    expect(await ec2.describeSnapshotsByIds([created.snapshotId])).toEqual({
      found: [{ ...created, state: 'completed' }],
      missingIds: [],
    });
  });

  it('creating a snapshot of a missing volume is NotFound', async () => {
    await expect(ec2.createSnapshot({ volumeId: someVolume, description: '', tags: {} })).rejects.toBeInstanceOf(
      NotFound,
    );
  });

  it('describes many ids in chunks of at most 200 without MaxResults', async () => {
    const ids = Array.from({ length: 450 }, () => h.sim.addSnapshot({ volumeId: someVolume, sizeGiB: 8 }).snapshotId);
    const result = await ec2.describeSnapshotsByIds(ids);
    expect(result.found.map((s) => s.snapshotId)).toEqual(ids);
    expect(result.missingIds).toEqual([]);
    const calls = h.sim.calls();
    expect(idsIn(calls)).toEqual([200, 200, 50]);
    expect(calls.every((c) => c.params.MaxResults === undefined && c.params['Owner.1'] === 'self')).toBe(true);
  });

  it('reports ids EC2 says do not exist instead of failing the whole poll', async () => {
    const ids = Array.from(
      { length: 7 },
      () => h.sim.addSnapshot({ volumeId: someVolume, sizeGiB: 8, state: 'pending' }).snapshotId,
    );
    await ec2.deleteSnapshot(ids[2]!);
    await ec2.deleteSnapshot(ids[5]!);
    const result = await ec2.describeSnapshotsByIds(ids);
    expect(result.found.map((s) => s.snapshotId)).toEqual(ids.filter((_id, i) => i !== 2 && i !== 5));
    expect(result.missingIds).toEqual([ids[2], ids[5]]);
  });

  it('lists snapshots by tags across pages and treats tag values literally', async () => {
    const ours = Array.from(
      { length: 12 },
      (_x, i) =>
        h.sim.addSnapshot({ volumeId: someVolume, sizeGiB: 8, tags: { 'gpu-dev-user': 'alice', disk_name: `d${i}` } })
          .snapshotId,
    );
    h.sim.addSnapshot({ volumeId: someVolume, sizeGiB: 8, tags: { 'gpu-dev-user': 'alicia' } });
    h.sim.addSnapshot({ volumeId: someVolume, sizeGiB: 8, tags: { 'gpu-dev-user': 'al*' } });

    const found = await ec2.describeSnapshots({ tags: { 'gpu-dev-user': 'alice' }, tagKeys: ['disk_name'] });
    expect(found.map((s) => s.snapshotId)).toEqual(ours);
    expect(h.sim.calls()).toHaveLength(3); // 12 results at 5 per page

    const literal = await ec2.describeSnapshots({ tags: { 'gpu-dev-user': 'al*' } });
    expect(literal.map((s) => s.tags['gpu-dev-user'])).toEqual(['al*']);
  });

  it('lists by state and volume', async () => {
    const other = 'vol-0000000000000beef';
    const pending = h.sim.addSnapshot({ volumeId: someVolume, sizeGiB: 8, state: 'pending' });
    h.sim.addSnapshot({ volumeId: someVolume, sizeGiB: 8 });
    h.sim.addSnapshot({ volumeId: other, sizeGiB: 8, state: 'pending' });
    const found = await ec2.describeSnapshots({ states: ['pending'], volumeIds: [someVolume] });
    expect(found.map((s) => s.snapshotId)).toEqual([pending.snapshotId]);
  });

  it('deletes a snapshot; deleting it again is NotFound', async () => {
    const { snapshotId } = h.sim.addSnapshot({ volumeId: someVolume, sizeGiB: 8 });
    await ec2.deleteSnapshot(snapshotId);
    expect(h.sim.snapshot(snapshotId)).toBeUndefined();
    await expect(ec2.deleteSnapshot(snapshotId)).rejects.toBeInstanceOf(NotFound);
  });

  it('tags snapshots of a soft-deleted disk', async () => {
    const a = h.sim.addSnapshot({ volumeId: someVolume, sizeGiB: 8, tags: { disk_name: 'home' } });
    const b = h.sim.addSnapshot({ volumeId: someVolume, sizeGiB: 8, tags: { disk_name: 'home' } });
    await ec2.createTags([a.snapshotId, b.snapshotId], {
      'delete-date': '2026-04-01',
      'marked-deleted-at': '2026-03-01T12:00:00Z',
    });
    const tagged = await ec2.describeSnapshots({ tagKeys: ['delete-date'] });
    expect(tagged.map((s) => s.tags)).toEqual(
      [a, b].map(() => ({
        disk_name: 'home',
        'delete-date': '2026-04-01',
        'marked-deleted-at': '2026-03-01T12:00:00Z',
      })),
    );
  });
});

describe('volumes', () => {
  it('describes volumes by filter across pages, with attachments', async () => {
    const volumes = Array.from({ length: 7 }, (_x, i) =>
      h.sim.addVolume({
        sizeGiB: 10 + i,
        tags: { 'gpu-dev-user': 'alice' },
        attachedTo: i === 0 ? 'i-0aaaaaaaaaaaaaaaa' : undefined,
      }),
    );
    h.sim.addVolume({ sizeGiB: 5, tags: { 'gpu-dev-user': 'bob' } });

    const alice = await ec2.describeVolumes({ tags: { 'gpu-dev-user': 'alice' } });
    expect(alice).toHaveLength(7);
    expect(alice[0]).toEqual({
      volumeId: volumes[0]!.volumeId,
      state: 'in-use',
      attachedTo: ['i-0aaaaaaaaaaaaaaaa'],
      attachmentStates: ['attached'],
      tags: { 'gpu-dev-user': 'alice' },
      sizeGiB: 10,
    });
    const detached = await ec2.describeVolumes({ tags: { 'gpu-dev-user': 'alice' }, states: ['available'] });
    expect(detached.map((v) => v.volumeId)).toEqual(volumes.slice(1).map((v) => v.volumeId));
  });

  it('reads every EC2 volume state and the attachment state, which tell a volume going from one that is settled', async () => {
    const states = ['creating', 'available', 'in-use', 'deleting', 'deleted', 'error'] as const;
    const ids = states.map((state) => h.sim.addVolume({ sizeGiB: 1, state }).volumeId);
    const { found } = await ec2.describeVolumesByIds(ids);
    expect(found.map((v) => v.state)).toEqual([...states]);
    const { volumeId } = h.sim.addVolume({ sizeGiB: 1, attachedTo: 'i-0aaaaaaaaaaaaaaaa' });
    for (const attachment of ['attaching', 'detaching', 'attached'] as const) {
      h.sim.setAttachmentState(volumeId, attachment);
      expect((await ec2.describeVolumesByIds([volumeId])).found[0]?.attachmentStates).toEqual([attachment]);
    }
  });

  it('describes volumes by id, reporting the missing ones', async () => {
    const { volumeId } = h.sim.addVolume({ sizeGiB: 10 });
    const result = await ec2.describeVolumesByIds([volumeId, someVolume]);
    expect(result.found.map((v) => [v.volumeId, v.state, v.attachedTo])).toEqual([[volumeId, 'available', []]]);
    expect(result.missingIds).toEqual([someVolume]);
  });

  it('will not delete an attached volume (Conflict), deletes it once the pod is gone', async () => {
    const { volumeId } = h.sim.addVolume({ sizeGiB: 10, attachedTo: 'default/gpu-dev-abc' });
    await expect(ec2.deleteVolume(volumeId)).rejects.toBeInstanceOf(Conflict);
    expect(h.sim.volume(volumeId)).toBeDefined();
    h.sim.detachVolume(volumeId);
    await ec2.deleteVolume(volumeId);
    expect(h.sim.volume(volumeId)).toBeUndefined();
    await expect(ec2.deleteVolume(volumeId)).rejects.toBeInstanceOf(NotFound);
  });

  it('tags volumes', async () => {
    const { volumeId } = h.sim.addVolume({ sizeGiB: 10 });
    await ec2.createTags([volumeId], { disk_name: 'home' });
    expect((await ec2.describeVolumesByIds([volumeId])).found[0]?.tags).toEqual({ disk_name: 'home' });
  });
});

/*
 * The EC2 simulator seen through the real SDK commands: the wire shapes, validation and state
 * changes our adapter relies on.
 */
import {
  CreateSnapshotCommand,
  CreateTagsCommand,
  DeleteSnapshotCommand,
  DeleteVolumeCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  paginateDescribeSnapshots,
} from '@aws-sdk/client-ec2';
import type { DescribeSnapshotsCommandInput } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AwsHarness } from './aws-harness.js';
import { startAwsHarness } from './aws-harness.js';

let h: AwsHarness;
beforeAll(async () => {
  h = await startAwsHarness();
});
afterAll(async () => {
  await h.close();
});
beforeEach(() => {
  h.sim.reset();
});

async function errorOf(promise: Promise<unknown>): Promise<{ name: string; status?: number }> {
  const err = await promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
  const e = err as { name: string; $metadata?: { httpStatusCode?: number } };
  return { name: e.name, status: e.$metadata?.httpStatusCode };
}

const describeSnapshots = (input: DescribeSnapshotsCommandInput) =>
  h.ec2Client.send(new DescribeSnapshotsCommand(input));

describe('snapshots', () => {
  it('creates a tagged snapshot that stays pending until the clock passes its completion time', async () => {
    const { volumeId } = h.sim.addVolume({ sizeGiB: 100 });
    const created = await h.ec2Client.send(
      new CreateSnapshotCommand({
        VolumeId: volumeId,
        Description: 'shutdown',
        TagSpecifications: [{ ResourceType: 'snapshot', Tags: [{ Key: 'gpu-dev-user', Value: 'alice' }] }],
      }),
    );
    expect(created).toMatchObject({
      VolumeId: volumeId,
      State: 'pending',
      VolumeSize: 100,
      Progress: '0%',
      Description: 'shutdown',
      Tags: [{ Key: 'gpu-dev-user', Value: 'alice' }],
    });
    expect(created.StartTime).toEqual(h.clock.now());

    h.clock.advanceSeconds(30);
    const half = await describeSnapshots({ SnapshotIds: [created.SnapshotId!] });
    expect(half.Snapshots?.[0]).toMatchObject({ State: 'pending', Progress: '50%' });

    h.clock.advanceSeconds(30);
    const done = await describeSnapshots({ SnapshotIds: [created.SnapshotId!] });
    expect(done.Snapshots?.[0]).toMatchObject({ State: 'completed', Progress: '100%' });
  });

  it('reports a failed snapshot as error', async () => {
    const { snapshotId } = h.sim.addSnapshot({ volumeId: h.sim.addVolume({ sizeGiB: 8 }).volumeId, state: 'pending' });
    h.sim.failSnapshot(snapshotId);
    const out = await describeSnapshots({ SnapshotIds: [snapshotId] });
    expect(out.Snapshots?.[0]?.State).toBe('error');
  });

  it('refuses to snapshot a volume that does not exist', async () => {
    const err = await errorOf(h.ec2Client.send(new CreateSnapshotCommand({ VolumeId: 'vol-00000000000000fff' })));
    expect(err).toEqual({ name: 'InvalidVolume.NotFound', status: 400 });
    expect(h.sim.snapshots()).toEqual([]);
  });

  it('fails the whole call when any requested id is unknown, like EC2', async () => {
    const { snapshotId } = h.sim.addSnapshot({ volumeId: 'vol-0000000000000abcd', sizeGiB: 8 });
    const err = await errorOf(describeSnapshots({ SnapshotIds: [snapshotId, 'snap-0000000000000dead'] }));
    expect(err).toEqual({ name: 'InvalidSnapshot.NotFound', status: 400 });
  });

  it('rejects MaxResults combined with SnapshotIds, malformed ids and an out-of-range MaxResults', async () => {
    const { snapshotId } = h.sim.addSnapshot({ volumeId: 'vol-0000000000000abcd', sizeGiB: 8 });
    expect(await errorOf(describeSnapshots({ SnapshotIds: [snapshotId], MaxResults: 5 }))).toMatchObject({
      name: 'InvalidParameterCombination',
    });
    expect(await errorOf(describeSnapshots({ SnapshotIds: ['snapshot-1'] }))).toMatchObject({
      name: 'InvalidSnapshotID.Malformed',
    });
    expect(await errorOf(describeSnapshots({ MaxResults: 2 }))).toMatchObject({ name: 'InvalidParameterValue' });
  });

  it('filters by tag value (with wildcards), tag key, status and volume, and only for our own account', async () => {
    const vol = 'vol-0000000000000abcd';
    const a = h.sim.addSnapshot({ volumeId: vol, sizeGiB: 8, tags: { 'gpu-dev-user': 'alice', disk_name: 'home' } });
    const b = h.sim.addSnapshot({ volumeId: vol, sizeGiB: 8, state: 'pending', tags: { 'gpu-dev-user': 'bob' } });
    h.sim.addSnapshot({ volumeId: 'vol-0000000000000beef', sizeGiB: 8 });
    const ids = async (Filters: { Name: string; Values: string[] }[], OwnerIds = ['self']) =>
      (await describeSnapshots({ OwnerIds, Filters })).Snapshots?.map((s) => s.SnapshotId);

    expect(await ids([{ Name: 'tag:gpu-dev-user', Values: ['alice'] }])).toEqual([a.snapshotId]);
    expect(await ids([{ Name: 'tag:gpu-dev-user', Values: ['al*', 'b?b'] }])).toEqual([a.snapshotId, b.snapshotId]);
    expect(await ids([{ Name: 'tag-key', Values: ['disk_name'] }])).toEqual([a.snapshotId]);
    expect(
      await ids([
        { Name: 'status', Values: ['pending'] },
        { Name: 'volume-id', Values: [vol] },
      ]),
    ).toEqual([b.snapshotId]);
    expect(await ids([], ['amazon'])).toEqual([]);
    expect(
      await errorOf(describeSnapshots({ Filters: [{ Name: 'tags:gpu-dev-user', Values: ['alice'] }] })),
    ).toMatchObject({ name: 'InvalidParameterValue', status: 400 });
  });

  it('pages with MaxResults/NextToken and neither skips nor repeats when items are deleted mid-way', async () => {
    const all = Array.from(
      { length: 12 },
      () => h.sim.addSnapshot({ volumeId: 'vol-0000000000000abcd', sizeGiB: 8 }).snapshotId,
    );
    const seen: string[] = [];
    let pages = 0;
    for await (const page of paginateDescribeSnapshots({ client: h.ec2Client, pageSize: 5 }, { OwnerIds: ['self'] })) {
      seen.push(...(page.Snapshots ?? []).map((s) => s.SnapshotId!));
      if (++pages === 1) {
        // A retention sweep deletes as it pages: one already listed, one not yet listed.
        await h.ec2Client.send(new DeleteSnapshotCommand({ SnapshotId: all[4] }));
        await h.ec2Client.send(new DeleteSnapshotCommand({ SnapshotId: all[6] }));
      }
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(all.filter((id) => id !== all[6]));
    const describes = h.sim.calls().filter((c) => c.action === 'DescribeSnapshots');
    expect(describes.map((c) => [c.params.MaxResults, c.params['Owner.1']])).toEqual([
      ['5', 'self'],
      ['5', 'self'],
      ['5', 'self'],
    ]);
  });
});

describe('volumes', () => {
  it('reports attachment state and lets the cluster detach a volume', async () => {
    const { volumeId } = h.sim.addVolume({
      sizeGiB: 200,
      tags: { disk_name: 'home' },
      attachedTo: 'i-0123456789abcdef0',
    });
    const attached = await h.ec2Client.send(
      new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.status', Values: ['attached'] }] }),
    );
    expect(attached.Volumes).toHaveLength(1);
    expect(attached.Volumes?.[0]).toMatchObject({
      VolumeId: volumeId,
      State: 'in-use',
      Size: 200,
      Attachments: [{ InstanceId: 'i-0123456789abcdef0', State: 'attached', VolumeId: volumeId }],
    });

    h.sim.detachVolume(volumeId);
    const out = await h.ec2Client.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
    expect(out.Volumes?.[0]).toMatchObject({ State: 'available', Attachments: [] });
  });

  it('refuses to delete an attached volume and deletes it once detached', async () => {
    const { volumeId } = h.sim.addVolume({ sizeGiB: 10, attachedTo: 'default/gpu-dev-abc' });
    expect(await errorOf(h.ec2Client.send(new DeleteVolumeCommand({ VolumeId: volumeId })))).toEqual({
      name: 'VolumeInUse',
      status: 400,
    });
    expect(h.sim.volume(volumeId)?.state).toBe('in-use');

    h.sim.detachVolume(volumeId);
    await h.ec2Client.send(new DeleteVolumeCommand({ VolumeId: volumeId }));
    expect(h.sim.volume(volumeId)).toBeUndefined();
    expect(await errorOf(h.ec2Client.send(new DeleteVolumeCommand({ VolumeId: volumeId })))).toMatchObject({
      name: 'InvalidVolume.NotFound',
    });
  });

  it('rejects MaxResults with VolumeIds and unknown volume ids', async () => {
    const { volumeId } = h.sim.addVolume({ sizeGiB: 10 });
    expect(
      await errorOf(h.ec2Client.send(new DescribeVolumesCommand({ VolumeIds: [volumeId], MaxResults: 5 }))),
    ).toMatchObject({ name: 'InvalidParameterCombination' });
    expect(
      await errorOf(h.ec2Client.send(new DescribeVolumesCommand({ VolumeIds: ['vol-00000000000000fff'] }))),
    ).toMatchObject({ name: 'InvalidVolume.NotFound' });
  });
});

describe('tags, calls and faults', () => {
  it('tags snapshots and volumes together, and changes nothing when one resource is missing', async () => {
    const { volumeId } = h.sim.addVolume({ sizeGiB: 10 });
    const { snapshotId } = h.sim.addSnapshot({ volumeId, tags: { keep: 'me' } });
    await h.ec2Client.send(
      new CreateTagsCommand({ Resources: [snapshotId, volumeId], Tags: [{ Key: 'delete-date', Value: '2026-04-01' }] }),
    );
    expect(h.sim.snapshot(snapshotId)?.tags).toEqual({ keep: 'me', 'delete-date': '2026-04-01' });
    expect(h.sim.volume(volumeId)?.tags).toEqual({ 'delete-date': '2026-04-01' });

    const err = await errorOf(
      h.ec2Client.send(
        new CreateTagsCommand({
          Resources: [volumeId, 'snap-0000000000000dead'],
          Tags: [{ Key: 'x', Value: 'y' }],
        }),
      ),
    );
    expect(err.name).toBe('InvalidSnapshot.NotFound');
    expect(h.sim.volume(volumeId)?.tags).toEqual({ 'delete-date': '2026-04-01' });
  });

  it('records every call in order and forgets them on clear()', async () => {
    const { volumeId } = h.sim.addVolume({ sizeGiB: 10 });
    await h.ec2Client.send(new CreateSnapshotCommand({ VolumeId: volumeId }));
    await describeSnapshots({ OwnerIds: ['self'] });
    expect(h.sim.calls().map((c) => [c.service, c.action, c.params])).toEqual([
      ['ec2', 'CreateSnapshot', { VolumeId: volumeId }],
      ['ec2', 'DescribeSnapshots', { 'Owner.1': 'self' }],
    ]);
    expect(h.sim.calls()[0]?.at).toEqual(h.clock.now());
    h.sim.clear();
    expect(h.sim.calls()).toEqual([]);
    expect(h.sim.snapshots()).toHaveLength(1);
  });

  it('throttles only the targeted action, as many times as asked', async () => {
    const { volumeId } = h.sim.addVolume({ sizeGiB: 10 });
    h.sim.addFault({ service: 'ec2', action: 'CreateSnapshot', times: 2, fault: { kind: 'throttle' } });
    await describeSnapshots({});
    const create = () => h.ec2Client.send(new CreateSnapshotCommand({ VolumeId: volumeId }));
    expect(await errorOf(create())).toEqual({ name: 'RequestLimitExceeded', status: 503 });
    expect(await errorOf(create())).toEqual({ name: 'RequestLimitExceeded', status: 503 });
    await create();
    expect(h.sim.snapshots()).toHaveLength(1);
    expect(h.sim.calls().map((c) => c.fault)).toEqual([undefined, 'throttle', 'throttle', undefined]);
  });

  it('answers an unknown action with InvalidAction and leaves non-AWS requests to the server', async () => {
    const res = await fetch(`${h.options.endpoint}/`, {
      method: 'POST',
      body: 'Action=RunInstances&Version=2016-11-15',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('<Code>InvalidAction</Code>');
    expect((await fetch(`${h.options.endpoint}/api/v1/pods`)).status).toBe(404);
  });
});

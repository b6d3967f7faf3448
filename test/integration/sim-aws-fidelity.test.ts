/*
 * Fidelity of the EC2 simulator where it used to differ from the real service (issue: the
 * simulator tells the truth). Each test names the real behaviour it pins.
 */
import {
  CreateSnapshotCommand,
  CreateTagsCommand,
  DeleteSnapshotCommand,
  DeleteVolumeCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
} from '@aws-sdk/client-ec2';
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

describe('CreateSnapshot per-volume rate (SnapshotCreationPerVolumeRateExceeded, one per volume per 15 s; see aws-ebs-csi-driver#1608/#1659)', () => {
  it('refuses a second snapshot of the same volume within 15 s on the clock, and creates nothing', async () => {
    const { volumeId } = h.sim.addVolume({ sizeGiB: 8 });
    const other = h.sim.addVolume({ sizeGiB: 8 }).volumeId;
    await h.ec2Client.send(new CreateSnapshotCommand({ VolumeId: volumeId }));
    h.clock.advanceSeconds(14);
    expect(await errorOf(h.ec2Client.send(new CreateSnapshotCommand({ VolumeId: volumeId })))).toEqual({
      name: 'SnapshotCreationPerVolumeRateExceeded',
      status: 400,
    });
    expect(h.sim.snapshots()).toHaveLength(1);
    await h.ec2Client.send(new CreateSnapshotCommand({ VolumeId: other })); // the limit is per volume
    h.clock.advanceSeconds(1);
    await h.ec2Client.send(new CreateSnapshotCommand({ VolumeId: volumeId }));
    expect(h.sim.snapshots()).toHaveLength(3);
  });
});

describe('MaxResults above the maximum is capped (API reference: "if you specify a value larger than 500, only 500 items are returned")', () => {
  it('DescribeVolumes with MaxResults=1000 (what the AWS CLI sends by default) answers up to 500 and a NextToken', async () => {
    for (let i = 0; i < 501; i++) h.sim.addVolume({ sizeGiB: 1 });
    const out = await h.ec2Client.send(new DescribeVolumesCommand({ MaxResults: 1000 }));
    expect(out.Volumes).toHaveLength(500);
    expect(out.NextToken).toBeDefined();
    const rest = await h.ec2Client.send(new DescribeVolumesCommand({ MaxResults: 1000, NextToken: out.NextToken }));
    expect(rest.Volumes).toHaveLength(1);
  });

  it('DescribeSnapshots with MaxResults=5000 is capped at 1000, and below 5 is still refused', async () => {
    const { volumeId } = h.sim.addVolume({ sizeGiB: 1 });
    h.sim.addSnapshot({ volumeId });
    const out = await h.ec2Client.send(new DescribeSnapshotsCommand({ MaxResults: 5000 }));
    expect(out.Snapshots).toHaveLength(1);
    expect(await errorOf(h.ec2Client.send(new DescribeSnapshotsCommand({ MaxResults: 4 })))).toMatchObject({
      name: 'InvalidParameterValue',
    });
  });
});

describe('DryRun=true answers DryRunOperation (HTTP 412) and changes nothing (API reference, DryRun parameter)', () => {
  it('DeleteVolume, DeleteSnapshot, CreateSnapshot and CreateTags with DryRun leave everything as it was', async () => {
    const { volumeId } = h.sim.addVolume({ sizeGiB: 8 });
    const { snapshotId } = h.sim.addSnapshot({ volumeId });
    const dry = { DryRun: true };
    expect(await errorOf(h.ec2Client.send(new DeleteVolumeCommand({ VolumeId: volumeId, ...dry })))).toEqual({
      name: 'DryRunOperation',
      status: 412,
    });
    expect(
      await errorOf(h.ec2Client.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId, ...dry }))),
    ).toMatchObject({ name: 'DryRunOperation' });
    expect(await errorOf(h.ec2Client.send(new CreateSnapshotCommand({ VolumeId: volumeId, ...dry })))).toMatchObject({
      name: 'DryRunOperation',
    });
    expect(
      await errorOf(
        h.ec2Client.send(new CreateTagsCommand({ Resources: [volumeId], Tags: [{ Key: 'k', Value: 'v' }], ...dry })),
      ),
    ).toMatchObject({ name: 'DryRunOperation' });
    expect(h.sim.volume(volumeId)).toMatchObject({ state: 'available', tags: {} });
    expect(h.sim.snapshots().map((s) => s.snapshotId)).toEqual([snapshotId]);
    // a dry run did not use up the volume's snapshot rate either
    await h.ec2Client.send(new CreateSnapshotCommand({ VolumeId: volumeId }));
  });

  it('a dry run of a call that would fail answers the failure, not DryRunOperation', async () => {
    const { volumeId } = h.sim.addVolume({ sizeGiB: 8, attachedTo: 'i-0abc' });
    expect(
      await errorOf(h.ec2Client.send(new DeleteVolumeCommand({ VolumeId: volumeId, DryRun: true }))),
    ).toMatchObject({ name: 'VolumeInUse' });
    expect(
      await errorOf(h.ec2Client.send(new DeleteVolumeCommand({ VolumeId: 'vol-0000000000000dead', DryRun: true }))),
    ).toMatchObject({ name: 'InvalidVolume.NotFound' });
  });

  it('DescribeVolumes with DryRun answers DryRunOperation too', async () => {
    expect(await errorOf(h.ec2Client.send(new DescribeVolumesCommand({ DryRun: true })))).toMatchObject({
      name: 'DryRunOperation',
    });
  });
});

describe('snapshot ids never collide (EC2 ids are unique per resource)', () => {
  it('CreateSnapshot never hands out the id of a seeded snapshot, so the seeded one is not overwritten', async () => {
    const { volumeId } = h.sim.addVolume({ sizeGiB: 8, volumeId: 'vol-00000000000000099' });
    // the first generated ids are 1, 2, 3…: seed them all
    for (let n = 1; n <= 3; n++)
      h.sim.addSnapshot({
        volumeId,
        snapshotId: `snap-${n.toString(16).padStart(17, '0')}`,
        description: `seeded ${n}`,
      });
    const created = await h.ec2Client.send(new CreateSnapshotCommand({ VolumeId: volumeId, Description: 'new' }));
    expect(['snap-00000000000000001', 'snap-00000000000000002', 'snap-00000000000000003']).not.toContain(
      created.SnapshotId,
    );
    expect(
      h.sim
        .snapshots()
        .map((s) => s.description)
        .sort(),
    ).toEqual(['new', 'seeded 1', 'seeded 2', 'seeded 3']);
  });
});

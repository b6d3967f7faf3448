/*
 * Fidelity: EBS volume and attachment states as DescribeVolumes reports them, with the timed
 * delete and detach of the real service. References: EC2 API reference, `Volume.State`
 * (creating | available | in-use | deleting | deleted | error) and `VolumeAttachment.State`
 * (attaching | attached | detaching | detached); DeleteVolume: "The volume must be in the
 * available state (not attached to an instance). The volume can remain in the deleting state for
 * several minutes."; EC2 error codes: IncorrectState ("vol-… is not 'available'.").
 */
import { CreateSnapshotCommand, DeleteVolumeCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
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

async function errorName(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
  return (err as { name: string }).name;
}

async function describeOne(volumeId: string) {
  const out = await h.ec2Client.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
  return out.Volumes?.[0];
}

const deleteVolume = (volumeId: string) => h.ec2Client.send(new DeleteVolumeCommand({ VolumeId: volumeId }));

describe('DeleteVolume takes time on the clock (API reference: "can remain in the deleting state")', () => {
  it('shows a deleted volume as deleting until deleteSeconds pass, then answers InvalidVolume.NotFound', async () => {
    h.sim.setVolumeTimings({ deleteSeconds: 120 });
    const { volumeId } = h.sim.addVolume({ sizeGiB: 50 });
    await deleteVolume(volumeId);
    expect((await describeOne(volumeId))?.State).toBe('deleting');
    expect(h.sim.volume(volumeId)?.state).toBe('deleting');
    const filtered = await h.ec2Client.send(
      new DescribeVolumesCommand({ Filters: [{ Name: 'status', Values: ['deleting'] }] }),
    );
    expect(filtered.Volumes?.map((v) => v.VolumeId)).toEqual([volumeId]);

    h.clock.advanceSeconds(119);
    expect((await describeOne(volumeId))?.State).toBe('deleting');
    h.clock.advanceSeconds(1);
    expect(await errorName(describeOne(volumeId))).toBe('InvalidVolume.NotFound');
    expect(h.sim.volume(volumeId)).toBeUndefined();
  });

  it('is instant by default (deleteSeconds 0), so a second DeleteVolume is NotFound', async () => {
    const { volumeId } = h.sim.addVolume({ sizeGiB: 50 });
    await deleteVolume(volumeId);
    expect(h.sim.volume(volumeId)).toBeUndefined();
    expect(await errorName(deleteVolume(volumeId))).toBe('InvalidVolume.NotFound');
  });

  it('refuses a second DeleteVolume while the first is under way with IncorrectState, not NotFound', async () => {
    h.sim.setVolumeTimings({ deleteSeconds: 60 });
    const { volumeId } = h.sim.addVolume({ sizeGiB: 50 });
    await deleteVolume(volumeId);
    expect(await errorName(deleteVolume(volumeId))).toBe('IncorrectState');
    expect((await describeOne(volumeId))?.State).toBe('deleting');
  });
});

describe('detach takes time on the clock (VolumeAttachment.State detaching → volume available)', () => {
  it('keeps the volume in-use with a detaching attachment until detachSeconds pass', async () => {
    h.sim.setVolumeTimings({ detachSeconds: 10 });
    const { volumeId } = h.sim.addVolume({ sizeGiB: 50, attachedTo: 'i-0abc' });
    h.sim.detachVolume(volumeId);
    const during = await describeOne(volumeId);
    expect(during).toMatchObject({ State: 'in-use', Attachments: [{ State: 'detaching', InstanceId: 'i-0abc' }] });
    expect(await errorName(deleteVolume(volumeId))).toBe('VolumeInUse');

    h.sim.detachVolume(volumeId); // a second detach does not restart the clock
    h.clock.advanceSeconds(10);
    const after = await describeOne(volumeId);
    expect(after).toMatchObject({ State: 'available', Attachments: [] });
    await deleteVolume(volumeId);
    expect(h.sim.volume(volumeId)).toBeUndefined();
  });

  it('a detach scripted away holds; a later detach and a delete of another volume still end on time', async () => {
    h.sim.setVolumeTimings({ detachSeconds: 10, deleteSeconds: 20 });
    const { volumeId } = h.sim.addVolume({ sizeGiB: 50, attachedTo: 'i-0abc' });
    const { volumeId: spare } = h.sim.addVolume({ sizeGiB: 8 });
    h.sim.detachVolume(volumeId);
    h.sim.setAttachmentState(volumeId, 'attached'); // the scripted state holds: no detach under way
    await deleteVolume(spare);
    h.clock.advanceSeconds(10);
    expect(await describeOne(volumeId)).toMatchObject({ State: 'in-use', Attachments: [{ State: 'attached' }] });
    h.sim.detachVolume(volumeId);
    h.clock.advanceSeconds(9);
    expect((await describeOne(volumeId))?.State).toBe('in-use');
    expect((await describeOne(spare))?.State).toBe('deleting');
    h.clock.advanceSeconds(1);
    expect(await describeOne(volumeId)).toMatchObject({ State: 'available', Attachments: [] });
    expect(await errorName(describeOne(spare))).toBe('InvalidVolume.NotFound');
  });

  it('is instant by default: detachVolume leaves the volume available at once', async () => {
    const { volumeId } = h.sim.addVolume({ sizeGiB: 50, attachedTo: 'i-0abc' });
    h.sim.detachVolume(volumeId);
    expect(h.sim.volume(volumeId)).toMatchObject({ state: 'available', attachedTo: undefined });
  });
});

describe('scripted states, as DescribeVolumes returns them', () => {
  it.each(['creating', 'deleting', 'deleted', 'error'] as const)(
    'reports %s and its status filter matches',
    async (state) => {
      const { volumeId } = h.sim.addVolume({ sizeGiB: 8 });
      h.sim.setVolumeState(volumeId, state);
      expect((await describeOne(volumeId))?.State).toBe(state);
      const filtered = await h.ec2Client.send(
        new DescribeVolumesCommand({ Filters: [{ Name: 'status', Values: [state] }] }),
      );
      expect(filtered.Volumes?.map((v) => v.VolumeId)).toEqual([volumeId]);
      h.clock.advanceSeconds(3600);
      expect((await describeOne(volumeId))?.State).toBe(state); // scripted states hold until changed
    },
  );

  it.each(['attaching', 'attached', 'detaching'] as const)(
    'an attachment %s makes the volume in-use',
    async (state) => {
      const { volumeId } = h.sim.addVolume({ sizeGiB: 8, attachedTo: 'i-0abc' });
      h.sim.setAttachmentState(volumeId, state);
      expect(await describeOne(volumeId)).toMatchObject({ State: 'in-use', Attachments: [{ State: state }] });
      const filtered = await h.ec2Client.send(
        new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.status', Values: [state] }] }),
      );
      expect(filtered.Volumes).toHaveLength(1);
      expect(await errorName(deleteVolume(volumeId))).toBe('VolumeInUse');
    },
  );

  it('a detached attachment is still listed, and the volume is available and deletable', async () => {
    const { volumeId } = h.sim.addVolume({ sizeGiB: 8 });
    h.sim.setAttachmentState(volumeId, 'detached');
    expect(await describeOne(volumeId)).toMatchObject({
      State: 'available',
      Attachments: [{ State: 'detached', InstanceId: 'sim-instance' }],
    });
    expect(h.sim.volume(volumeId)?.attachmentState).toBe('detached');
    await deleteVolume(volumeId);
    expect(h.sim.volume(volumeId)).toBeUndefined();
  });

  it('setVolumeState in-use attaches, available detaches', () => {
    const { volumeId } = h.sim.addVolume({ sizeGiB: 8 });
    h.sim.setVolumeState(volumeId, 'in-use');
    expect(h.sim.volume(volumeId)).toMatchObject({
      state: 'in-use',
      attachedTo: 'sim-instance',
      attachmentState: 'attached',
    });
    h.sim.setVolumeState(volumeId, 'available');
    expect(h.sim.volume(volumeId)).toMatchObject({ state: 'available', attachedTo: undefined });
  });

  it('addVolume takes an initial state', async () => {
    const { volumeId } = h.sim.addVolume({ sizeGiB: 8, state: 'creating' });
    expect((await describeOne(volumeId))?.State).toBe('creating');
  });
});

describe('IncorrectState where real EC2 answers it', () => {
  it.each(['creating', 'deleting', 'deleted'] as const)(
    'DeleteVolume of a %s volume is IncorrectState and changes nothing',
    async (state) => {
      const { volumeId } = h.sim.addVolume({ sizeGiB: 8 });
      h.sim.setVolumeState(volumeId, state);
      expect(await errorName(deleteVolume(volumeId))).toBe('IncorrectState');
      expect(h.sim.volume(volumeId)?.state).toBe(state);
    },
  );

  it('DeleteVolume of an error volume succeeds (EC2 lets you delete a failed volume)', async () => {
    const { volumeId } = h.sim.addVolume({ sizeGiB: 8 });
    h.sim.setVolumeState(volumeId, 'error');
    await deleteVolume(volumeId);
    expect(h.sim.volume(volumeId)).toBeUndefined();
  });

  it.each(['creating', 'deleting', 'error'] as const)(
    'CreateSnapshot of a %s volume is IncorrectState',
    async (state) => {
      const { volumeId } = h.sim.addVolume({ sizeGiB: 8 });
      h.sim.setVolumeState(volumeId, state);
      expect(await errorName(h.ec2Client.send(new CreateSnapshotCommand({ VolumeId: volumeId })))).toBe(
        'IncorrectState',
      );
      expect(h.sim.snapshots()).toEqual([]);
    },
  );
});

describe('reset', () => {
  it('puts the volume timings back to the options (instant here)', async () => {
    h.sim.setVolumeTimings({ deleteSeconds: 60, detachSeconds: 60 });
    h.sim.reset();
    const { volumeId } = h.sim.addVolume({ sizeGiB: 8 });
    await deleteVolume(volumeId);
    expect(h.sim.volume(volumeId)).toBeUndefined();
  });
});

/*
 * What EC2 says, turned into the observations decide.ts takes. A failed call is reported and
 * yields "unknown" (volumes) or nothing at all (snapshots), never "missing": only a definite
 * NotFound for an id counts as evidence that something is gone.
 */
import type { SnapshotInfo } from '../../shared/aws/ec2-shapes.js';
import type { SyncContext } from './context.js';
import type { SnapshotSeen } from './decide.js';
import type { VolumeSeen } from './volume-state.js';
import type { Observed } from './decide-deletions.js';

export function snapshotSeen(info: SnapshotInfo): SnapshotSeen {
  return { snapshotId: info.snapshotId, state: info.state, startTime: info.startTime, sizeGb: info.volumeSizeGiB, tags: info.tags };
}

const VOLUME_ID = /^vol-[0-9a-f]+$/;

export async function observeVolumes(ctx: SyncContext, volumeIds: string[]): Promise<Map<string, VolumeSeen>> {
  const seen = new Map<string, VolumeSeen>();
  // One malformed id in the database would make EC2 refuse the whole batch, every run.
  const valid = volumeIds.filter((volumeId) => VOLUME_ID.test(volumeId));
  for (const volumeId of volumeIds.filter((id) => !VOLUME_ID.test(id))) {
    seen.set(volumeId, { kind: 'unknown', error: 'not an EBS volume id' });
    ctx.count('malformed_volume_ids');
  }
  if (valid.length === 0) return seen;
  try {
    const { found, missingIds } = await ctx.aws((signal) => ctx.deps.ec2.describeVolumesByIds(valid, signal));
    for (const volume of found) {
      seen.set(volume.volumeId, { kind: 'seen', state: volume.state, attachments: volume.attachmentStates, tags: volume.tags });
    }
    for (const volumeId of missingIds) seen.set(volumeId, { kind: 'missing' });
  } catch (err) {
    ctx.fail('describe-volumes', `${valid.length} volume(s)`, err);
  }
  return seen;
}

/** Undefined when EC2 could not be asked: the caller decides nothing about these snapshots. */
export async function observeSnapshots(ctx: SyncContext, snapshotIds: string[]): Promise<Observed | undefined> {
  if (snapshotIds.length === 0) return { seen: new Map(), missing: new Set() };
  try {
    const { found, missingIds } = await ctx.aws((signal) => ctx.deps.ec2.describeSnapshotsByIds(snapshotIds, signal));
    return { seen: new Map(found.map((info) => [info.snapshotId, snapshotSeen(info)])), missing: new Set(missingIds) };
  } catch (err) {
    ctx.fail('describe-snapshots', `${snapshotIds.length} snapshot(s)`, err);
    return undefined;
  }
}

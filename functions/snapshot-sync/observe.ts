/*
 * What EC2 says, turned into the observations the rules take (read-only, for the stages' loads). A
 * failed call is reported (the run ends failed) and yields "unknown" (volumes) or nothing at all
 * (snapshots), never "missing": only a definite NotFound for an id is evidence that it is gone.
 */
import type { SnapshotInfo } from '../../shared/aws/ec2-shapes.js';
import type { Run } from '../../shared/runtime/run.js';
import type { SnapshotSeen } from './decide.js';
import type { Observed } from './decide-deletions.js';
import { ec2Call } from './ec2-calls.js';
import type { SyncDeps } from './ec2-calls.js';
import type { VolumeSeen } from './volume-state.js';

export function snapshotSeen(info: SnapshotInfo): SnapshotSeen {
  return {
    snapshotId: info.snapshotId,
    state: info.state,
    startTime: info.startTime,
    sizeGb: info.volumeSizeGiB,
    tags: info.tags,
  };
}

const VOLUME_ID = /^vol-[0-9a-f]+$/;

export interface VolumesSeen {
  volumes: Map<string, VolumeSeen>;
  /** Ids in the database that are not EBS volume ids: never sent (EC2 would refuse the whole batch, every run). */
  malformed: number;
}

export async function observeVolumes(run: Run, deps: SyncDeps, volumeIds: string[]): Promise<VolumesSeen> {
  const volumes = new Map<string, VolumeSeen>();
  const valid = volumeIds.filter((volumeId) => VOLUME_ID.test(volumeId));
  const malformed = volumeIds.filter((id) => !VOLUME_ID.test(id));
  for (const volumeId of malformed) volumes.set(volumeId, { kind: 'unknown', error: 'not an EBS volume id' });
  if (valid.length === 0) return { volumes, malformed: malformed.length };
  try {
    const { found, missingIds } = await ec2Call(deps, (signal) => deps.ec2.describeVolumesByIds(valid, signal));
    for (const volume of found) {
      volumes.set(volume.volumeId, {
        kind: 'seen',
        state: volume.state,
        attachments: volume.attachmentStates,
        tags: volume.tags,
      });
    }
    for (const volumeId of missingIds) volumes.set(volumeId, { kind: 'missing' });
  } catch (err) {
    run.fail('describe-volumes', `${valid.length} volume(s)`, err);
  }
  return { volumes, malformed: malformed.length };
}

/** Undefined when EC2 could not be asked: nothing is decided about these snapshots. */
export async function observeSnapshots(run: Run, deps: SyncDeps, snapshotIds: string[]): Promise<Observed | undefined> {
  if (snapshotIds.length === 0) return { seen: new Map(), missing: new Set() };
  try {
    const { found, missingIds } = await ec2Call(deps, (signal) => deps.ec2.describeSnapshotsByIds(snapshotIds, signal));
    return { seen: new Map(found.map((info) => [info.snapshotId, snapshotSeen(info)])), missing: new Set(missingIds) };
  } catch (err) {
    run.fail('describe-snapshots', `${snapshotIds.length} snapshot(s)`, err);
    return undefined;
  }
}

/*
 * What EC2 says, turned into the observations the rules take (read-only, for the stages' loads). A
 * failed call is reported (the run ends failed) and yields "unknown" (volumes) or nothing at all
 * (snapshots), never "missing": only a definite NotFound for an id is evidence that it is gone. Ids
 * the run's pace left unread are returned as such, for the stage to leave what needs them alone.
 */
import type { SnapshotInfo } from '../../shared/aws/ec2-shapes.js';
import type { Run } from '../../shared/runtime/run.js';
import type { SnapshotSeen } from './decide.js';
import type { Observed } from './decide-deletions.js';
import { FILTER_VALUES_PER_CALL } from '../../shared/aws/ec2-shapes.js';
import { ec2Call } from './ec2-calls.js';
import type { SyncDeps } from './ec2-calls.js';
import { readPaced } from './pace.js';
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
/** Ids per read between two looks at the run's pace: one DescribeVolumes/DescribeSnapshots call by id. */
const IDS_PER_READ = FILTER_VALUES_PER_CALL;

export interface VolumesSeen {
  volumes: Map<string, VolumeSeen>;
  /** Ids in the database that are not EBS volume ids: never sent (EC2 would refuse the whole batch, every run). */
  malformed: number;
  /** Ids not asked for: the run's pace stopped the reads (pace.ts). Whatever needs them waits for a later run. */
  unread: ReadonlySet<string>;
}

export async function observeVolumes(run: Run, deps: SyncDeps, volumeIds: string[]): Promise<VolumesSeen> {
  const volumes = new Map<string, VolumeSeen>();
  const valid = volumeIds.filter((volumeId) => VOLUME_ID.test(volumeId));
  const malformed = volumeIds.filter((id) => !VOLUME_ID.test(id));
  for (const volumeId of malformed) volumes.set(volumeId, { kind: 'unknown', error: 'not an EBS volume id' });
  let unread: ReadonlySet<string> = new Set();
  try {
    unread = await readPaced(run, valid, IDS_PER_READ, async (chunk) => {
      const { found, missingIds } = await ec2Call(deps, (signal) => deps.ec2.describeVolumesByIds(chunk, signal));
      for (const volume of found) {
        volumes.set(volume.volumeId, {
          kind: 'seen',
          state: volume.state,
          attachments: volume.attachmentStates,
          tags: volume.tags,
        });
      }
      for (const volumeId of missingIds) volumes.set(volumeId, { kind: 'missing' });
    });
  } catch (err) {
    run.fail('describe-volumes', `${valid.length} volume(s)`, err);
  }
  return { volumes, malformed: malformed.length, unread };
}

/** What EC2 said of the snapshot ids, and the ids not asked for (the run's pace stopped the reads). */
export interface SnapshotsSeen extends Observed {
  unread: ReadonlySet<string>;
}

/** Undefined when EC2 could not be asked: nothing is decided about these snapshots. */
export async function observeSnapshots(
  run: Run,
  deps: SyncDeps,
  snapshotIds: string[],
): Promise<SnapshotsSeen | undefined> {
  const seen = new Map<string, SnapshotSeen>();
  const missing = new Set<string>();
  try {
    const unread = await readPaced(run, snapshotIds, IDS_PER_READ, async (chunk) => {
      const found = await ec2Call(deps, (signal) => deps.ec2.describeSnapshotsByIds(chunk, signal));
      for (const info of found.found) seen.set(info.snapshotId, snapshotSeen(info));
      for (const id of found.missingIds) missing.add(id);
    });
    return { seen, missing, unread };
  } catch (err) {
    run.fail('describe-snapshots', `${snapshotIds.length} snapshot(s)`, err);
    return undefined;
  }
}

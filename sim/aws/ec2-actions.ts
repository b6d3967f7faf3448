/*
 * The EC2 actions the functions use, with the validation the real service applies where our code
 * could get it wrong: id formats, unknown ids, MaxResults ranges and the MaxResults + ids ban,
 * unknown filter names, too many filter values (FilterLimitExceeded), deleting an attached volume.
 * Id lists (VolumeId.N, SnapshotId.N) have no documented limit and none is applied here.
 */
import { Ec2Error } from './ec2-error.js';
import type { Ec2State, SimSnapshot, SimVolume } from './ec2-state.js';
import { observedVolumeState, simAccountId } from './ec2-state.js';
import type { Ec2Params } from './ec2-params.js';
import { filters, list, required, tagSpecifications, tags, unlessDryRun, validateIds } from './ec2-params.js';
import { filterPredicate } from './filters.js';
import type { FilterFields } from './filters.js';
import { candidates } from './ec2-index.js';
import { paginate } from './ec2-pages.js';
import type { XmlObject } from './ec2-xml.js';
import { tagSet } from './ec2-xml.js';

export type Ec2Action = (state: Ec2State, params: Ec2Params) => XmlObject;

function snapshotXml(state: Ec2State, s: SimSnapshot): XmlObject {
  const seen = state.observe(s);
  return {
    snapshotId: s.snapshotId,
    volumeId: s.volumeId,
    status: seen.state,
    statusMessage: seen.state === 'error' ? 'Snapshot creation failed' : undefined,
    startTime: s.startTime,
    progress: `${seen.progressPercent}%`,
    ownerId: simAccountId,
    volumeSize: s.sizeGiB,
    description: s.description,
    encrypted: false,
    storageTier: 'standard',
    tagSet: tagSet(s.tags),
  };
}

function volumeXml(v: SimVolume): XmlObject {
  const attachments = v.attachment
    ? [
        {
          volumeId: v.volumeId,
          instanceId: v.attachment.instanceId,
          device: v.attachment.device,
          status: v.attachment.state,
          attachTime: v.attachment.attachTime,
          deleteOnTermination: false,
        },
      ]
    : [];
  return {
    volumeId: v.volumeId,
    size: v.sizeGiB,
    snapshotId: '',
    availabilityZone: v.availabilityZone,
    status: observedVolumeState(v),
    createTime: v.createTime,
    attachmentSet: attachments,
    volumeType: 'gp3',
    iops: 3000,
    throughput: 125,
    encrypted: false,
    multiAttachEnabled: false,
    tagSet: tagSet(v.tags),
  };
}

function idsWithoutMaxResults(params: Ec2Params, listName: string, prefix: 'vol' | 'snap'): string[] {
  const ids = list(params, listName);
  if (ids.length > 0 && params.has('MaxResults')) {
    throw new Ec2Error(
      'InvalidParameterCombination',
      `The parameter ${listName}s cannot be used with the parameter maxResults`,
    );
  }
  validateIds(ids, prefix);
  return ids;
}

const snapshotFields = (state: Ec2State): FilterFields<SimSnapshot> => ({
  status: (s) => [state.observe(s).state],
  'volume-id': (s) => [s.volumeId],
  'snapshot-id': (s) => [s.snapshotId],
});

const describeSnapshots: Ec2Action = (state, params) => {
  const ids = idsWithoutMaxResults(params, 'SnapshotId', 'snap');
  const owners = list(params, 'Owner');
  const given = filters(params);
  const matches = filterPredicate(given, snapshotFields(state), (s) => s.tags);
  const ownedBySelf = owners.length === 0 || owners.some((o) => o === 'self' || o === simAccountId);
  const found =
    ids.length > 0
      ? ids.map((id) => state.snapshot(id))
      : candidates(state.snapshots, given, 'snapshot-id', ['volume-id']);
  state.examined += found.length;
  const page = paginate(ownedBySelf ? found.filter(matches) : [], (s) => s.snapshotId, params, [5, 1000]);
  unlessDryRun(params);
  return { snapshotSet: page.items.map((s) => snapshotXml(state, s)), nextToken: page.nextToken };
};

/** The message real EC2 gives, e.g. "vol-6eed552a is not 'available'." for an attach too early. */
function incorrectState(volume: SimVolume, wanted: string): Ec2Error {
  return new Ec2Error('IncorrectState', `${volume.volumeId} is not '${wanted}'.`);
}

const createSnapshot: Ec2Action = (state, params) => {
  const volumeId = required(params, 'VolumeId');
  validateIds([volumeId], 'vol');
  const volume = state.volume(volumeId);
  const observed = observedVolumeState(volume);
  if (observed !== 'available' && observed !== 'in-use') throw incorrectState(volume, 'available');
  const tagList = tagSpecifications(params, 'snapshot');
  state.checkSnapshotRate(volumeId);
  unlessDryRun(params);
  const startTime = state.now();
  const snapshot: SimSnapshot = {
    snapshotId: state.newSnapshotId(),
    volumeId,
    sizeGiB: volume.sizeGiB,
    description: params.get('Description') ?? '',
    startTime,
    failed: false,
    completesAt: new Date(startTime.getTime() + state.snapshotCompletionSeconds * 1000),
    tags: new Map(tagList.map((t) => [t.key, t.value])),
  };
  state.snapshots.set(snapshot.snapshotId, snapshot);
  state.snapshotTaken(volumeId);
  return snapshotXml(state, snapshot);
};

const deleteSnapshot: Ec2Action = (state, params) => {
  const snapshotId = required(params, 'SnapshotId');
  validateIds([snapshotId], 'snap');
  state.snapshot(snapshotId);
  unlessDryRun(params);
  state.snapshots.delete(snapshotId);
  return { return: true };
};

function taggable(state: Ec2State, resourceId: string): Map<string, string> {
  if (resourceId.startsWith('snap-')) return state.snapshot(resourceId).tags;
  if (resourceId.startsWith('vol-')) return state.volume(resourceId).tags;
  throw new Ec2Error('InvalidID', `The ID '${resourceId}' is not valid`);
}

const createTags: Ec2Action = (state, params) => {
  const resources = list(params, 'ResourceId');
  if (resources.length === 0) required(params, 'ResourceId.1');
  const newTags = tags(params, 'Tag');
  if (newTags.length === 0) required(params, 'Tag.1.Key');
  const targets = resources.map((id) => taggable(state, id)); // all must exist before any is changed
  unlessDryRun(params);
  for (const target of targets) for (const { key, value } of newTags) target.set(key, value);
  return { return: true };
};

const volumeFields: FilterFields<SimVolume> = {
  status: (v) => [observedVolumeState(v)],
  'attachment.status': (v) => (v.attachment ? [v.attachment.state] : []),
  'volume-id': (v) => [v.volumeId],
};

const describeVolumes: Ec2Action = (state, params) => {
  const ids = idsWithoutMaxResults(params, 'VolumeId', 'vol');
  const given = filters(params);
  const matches = filterPredicate(given, volumeFields, (v) => v.tags);
  const found = ids.length > 0 ? ids.map((id) => state.volume(id)) : candidates(state.volumes, given, 'volume-id', []);
  state.examined += found.length;
  const page = paginate(found.filter(matches), (v) => v.volumeId, params, [5, 500]);
  unlessDryRun(params);
  return { volumeSet: page.items.map(volumeXml), nextToken: page.nextToken };
};

const deleteVolume: Ec2Action = (state, params) => {
  const volumeId = required(params, 'VolumeId');
  validateIds([volumeId], 'vol');
  const volume = state.volume(volumeId);
  const observed = observedVolumeState(volume);
  if (observed === 'in-use') {
    throw new Ec2Error(
      'VolumeInUse',
      `Volume ${volumeId} is currently attached to ${volume.attachment?.instanceId ?? 'an instance'}`,
    );
  }
  // EC2 deletes `available` and `error` volumes; one still being created or already going is refused.
  if (observed !== 'available' && observed !== 'error') throw incorrectState(volume, 'available');
  unlessDryRun(params);
  state.beginDelete(volume);
  return { return: true };
};

export const ec2Actions: Readonly<Record<string, Ec2Action>> = {
  CreateSnapshot: createSnapshot,
  DescribeSnapshots: describeSnapshots,
  DeleteSnapshot: deleteSnapshot,
  CreateTags: createTags,
  DescribeVolumes: describeVolumes,
  DeleteVolume: deleteVolume,
};

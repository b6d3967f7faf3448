/*
 * The volumes of every teardown waiting for detach, read together: DescribeVolumes filtered by
 * volume id, 200 ids a call, every page. A filter skips ids it does not know instead of failing
 * the call, so one bad or deleted volume does not blind the others. A volume the listing did not
 * show is asked for by id, where only EC2's own NotFound says it does not exist.
 */
import type { Ec2Api } from '../../shared/aws/ec2.js';
import type { VolumeInfo } from '../../shared/aws/ec2-shapes.js';
import { Conflict, coerceError } from '../../shared/errors.js';
import type { VolumeView } from './volume.js';
import type { Target } from './types.js';

const IDS_PER_CALL = 200;

type Answer = VolumeInfo | 'missing' | { error: string };

const reasonOf = (err: unknown) =>
  err instanceof Conflict ? `IncorrectState: ${err.message}` : coerceError(err).message;

async function describeChunk(ec2: Ec2Api, ids: string[], answers: Map<string, Answer>): Promise<void> {
  try {
    for (const volume of await ec2.describeVolumes({ volumeIds: ids })) answers.set(volume.volumeId, volume);
  } catch (err) {
    for (const id of ids) answers.set(id, { error: reasonOf(err) });
    return;
  }
  const unseen = ids.filter((id) => !answers.has(id));
  if (unseen.length === 0) return;
  try {
    const { found, missingIds } = await ec2.describeVolumesByIds(unseen);
    for (const volume of found) answers.set(volume.volumeId, volume);
    for (const id of missingIds) answers.set(id, 'missing');
  } catch (err) {
    for (const id of unseen) answers.set(id, { error: reasonOf(err) });
  }
}

/** Whether await_detach reads the target's volume: only a volume the reservation holds is waited on. */
export const readsVolume = (target: Target): boolean => target.disk.holds && target.volumeId !== null;

/** What await_detach sees for each target, in order. */
export async function volumeViews(targets: Target[], ec2: Ec2Api): Promise<VolumeView[]> {
  const ids = [...new Set(targets.filter(readsVolume).map((t) => t.volumeId!))];
  const answers = new Map<string, Answer>();
  for (let i = 0; i < ids.length; i += IDS_PER_CALL) await describeChunk(ec2, ids.slice(i, i + IDS_PER_CALL), answers);
  return targets.map((target): VolumeView => {
    if (!target.disk.holds) return { kind: 'not-held', holder: target.disk.holder };
    if (!target.volumeId) return { kind: 'none' };
    const answer = answers.get(target.volumeId);
    if (answer === undefined) return { kind: 'unknown', reason: 'EC2 answered without the volume' };
    if (answer === 'missing') return { kind: 'missing' };
    if ('error' in answer) return { kind: 'unknown', reason: answer.error };
    return { kind: 'seen', state: answer.state, attachments: answer.attachmentStates };
  });
}

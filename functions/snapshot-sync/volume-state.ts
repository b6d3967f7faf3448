/*
 * What an EC2 volume's state means for snapshot-sync, and whose it is, pure. EC2 has six volume
 * states (creating, available, in-use, deleting, deleted, error) and four attachment states
 * (attaching, attached, detaching, detached); each maps to one phase, handled deliberately by the
 * callers: only `detached` is snapshotted or deleted, `gone` is settled, `broken` escalates at once,
 * the transient phases wait (bounded by an escalation), `attached` is someone else's again.
 */
import type { AttachmentState, VolumeState } from '../../shared/aws/ec2-shapes.js';
import { DISK_NAME_TAG, USER_TAG } from './tags.js';

/** What DescribeVolumes said about a volume in this run. */
export type VolumeSeen =
  | { kind: 'seen'; state: VolumeState; attachments: AttachmentState[]; tags: Record<string, string> }
  | { kind: 'missing' } // a definite NotFound
  | { kind: 'unknown'; error: string }; // not asked, or the call failed

export type VolumePhase =
  | 'detached' // available, no live attachment
  | 'attached' // in-use and attached: someone uses it
  | 'transient' // creating, attaching, detaching: it will settle by itself
  | 'going' // deleting: it will be gone
  | 'gone' // deleted, or NotFound
  | 'broken' // error: a person has to look
  | 'unknown';

export interface Phase {
  phase: VolumePhase;
  /** The state in EC2's words, for reasons and logs. */
  detail: string;
}

export function phaseOf(seen: VolumeSeen | undefined): Phase {
  if (!seen) return { phase: 'unknown', detail: 'not observed' };
  if (seen.kind === 'missing') return { phase: 'gone', detail: 'not found' };
  if (seen.kind === 'unknown') return { phase: 'unknown', detail: seen.error };
  const live = seen.attachments.filter((state) => state !== 'detached');
  const moving = live.find((state) => state === 'attaching' || state === 'detaching');
  switch (seen.state) {
    case 'deleted':
      return { phase: 'gone', detail: 'deleted' };
    case 'deleting':
      return { phase: 'going', detail: 'deleting' };
    case 'error':
      return { phase: 'broken', detail: 'error' };
    case 'creating':
      return { phase: 'transient', detail: 'creating' };
    case 'available':
      return moving
        ? { phase: 'transient', detail: moving }
        : live.length > 0
          ? { phase: 'attached', detail: live[0]! }
          : { phase: 'detached', detail: 'available' };
    case 'in-use':
      return moving ? { phase: 'transient', detail: moving } : { phase: 'attached', detail: 'attached' };
    default:
      return { phase: 'unknown', detail: `unrecognised state ${String(seen.state)}` };
  }
}

export interface VolumeOwner {
  userId: string;
  diskName: string | null;
}

/** `owner`: another user or disk is named (`other`), or nobody is (`none`). */
export type Ownership = { owned: true } | { owned: false; owner: 'other' | 'none'; reason: string };

/**
 * The volume's tags must name the disk: at least one of `gpu-dev-user` and `disk_name`, and every one
 * present equal to the disk's. A volume with no such tags, or another user's or disk's, is not ours.
 */
export function ownershipOf(tags: Record<string, string>, owner: VolumeOwner): Ownership {
  const user = tags[USER_TAG];
  const disk = tags[DISK_NAME_TAG];
  if (user === undefined && disk === undefined)
    return { owned: false, owner: 'none', reason: `the volume carries neither ${USER_TAG} nor ${DISK_NAME_TAG}` };
  if (user !== undefined && user !== owner.userId)
    return { owned: false, owner: 'other', reason: `its ${USER_TAG} tag names another user` };
  if (disk !== undefined && disk !== owner.diskName)
    return { owned: false, owner: 'other', reason: `its ${DISK_NAME_TAG} tag names another disk` };
  return { owned: true };
}

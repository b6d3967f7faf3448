/*
 * The await_detach verdict, pure: every EC2 volume state and attachment state is handled on
 * purpose. Only `available` with every attachment `detached` (or none) moves on to the snapshot;
 * a volume that does not exist or was deleted moves on without one; everything else — creating,
 * in-use (attaching, attached, detaching, even detached while still in-use), deleting, error, a
 * state we do not know, an API error or IncorrectState — waits, and the wait escalates.
 */
import type { Transition } from './types.js';

export type VolumeView =
  /** The reservation records no volume. */
  | { kind: 'none' }
  /** The disk is held by another reservation, or by none: not this teardown's to wait on. */
  | { kind: 'not-held'; holder: string | null }
  /** EC2 says the volume does not exist (InvalidVolume.NotFound). */
  | { kind: 'missing' }
  /** The volume could not be read (API error, throttling, IncorrectState, an unreadable answer). */
  | { kind: 'unknown'; reason: string }
  /** `attachments`: the state of each current attachment (`unknown` when EC2 did not say). */
  | { kind: 'seen'; state: string; attachments: string[] };

type Retry = (reason: string) => Transition;

export function heldElsewhere(holder: string | null): string {
  return holder === null
    ? 'the disk is not held by any reservation (released)'
    : `the disk is held by reservation ${JSON.stringify(holder)}`;
}

const skipDisk = (reason: string): Transition => ({ kind: 'advance', to: 'release_disk', reason });

export function volumeVerdict(volume: VolumeView, retry: Retry): Transition {
  switch (volume.kind) {
    case 'none':
      return skipDisk('no volume recorded: nothing to snapshot');
    case 'not-held':
      return skipDisk(`${heldElsewhere(volume.holder)}: no detach wait or snapshot`);
    case 'missing':
      return skipDisk('volume does not exist: nothing to snapshot');
    case 'unknown':
      return retry(`could not read the volume: ${volume.reason}`);
    case 'seen':
      return seenVerdict(volume.state, volume.attachments, retry);
  }
}

function seenVerdict(state: string, attachments: string[], retry: Retry): Transition {
  const attached = attachments.filter((attachment) => attachment !== 'detached');
  switch (state) {
    case 'available':
      return attached.length === 0
        ? { kind: 'advance', to: 'request_snapshot', reason: 'volume detached (available)' }
        : retry(`volume available but an attachment is ${attached.join(', ')}`);
    case 'in-use':
      return retry(
        `volume still attached (in-use, attachment ${attachments.length === 0 ? 'not reported' : attachments.join(', ')})`,
      );
    case 'creating':
      return retry('volume still being created');
    case 'deleting':
      return retry('volume is being deleted: waiting until it is gone');
    case 'deleted':
      return skipDisk('volume deleted: nothing to snapshot');
    case 'error':
      return retry('volume is in the error state: it needs an operator');
    default:
      return retry(`volume in an unrecognised state ${JSON.stringify(state)}`);
  }
}

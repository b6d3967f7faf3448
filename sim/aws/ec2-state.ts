/*
 * The simulated EC2 account: volumes with their attachment and snapshots whose state follows the
 * clock. Snapshot progress is computed on every read from `startTime` and the clock rather than by
 * timers, so a ManualClock moved by a test is all it takes to complete a snapshot. Timed volume
 * transitions (a `deleting` volume vanishing, a `detaching` attachment ending) are applied by
 * `settle()`, which every action and every inspection calls first, for the same reason. It looks
 * only at the volumes with a transition under way, as EC2 itself keeps no per-request sweep of the
 * account: a settle costs the volumes detaching or deleting, not every volume of a large fleet.
 */
import type { Clock } from '../../shared/clock.js';
import { Ec2Error, notFound } from './ec2-error.js';
import { IndexedResources } from './ec2-index.js';

export const simAccountId = '123456789012';

/** The volume states DescribeVolumes reports (EC2 API reference, `Volume.State`). */
export type SimVolumeState = 'creating' | 'available' | 'in-use' | 'deleting' | 'deleted' | 'error';
/** The attachment states (EC2 API reference, `VolumeAttachment.State`). */
export type SimAttachmentState = 'attaching' | 'attached' | 'detaching' | 'detached';
export type SimSnapshotState = 'pending' | 'completed' | 'error';

/**
 * The stored life-cycle state; `in-use` is not stored but observed: an `available` volume with a
 * live attachment (attaching, attached or detaching) reports `in-use`, as EC2 does.
 */
export type SimVolumeLifecycle = Exclude<SimVolumeState, 'in-use'>;

export interface SimAttachment {
  instanceId: string;
  device: string;
  attachTime: Date;
  state: SimAttachmentState;
  /** A `detaching` attachment started by a detach ends (is removed) at this instant. */
  endsAt?: Date;
}

export interface SimVolume {
  volumeId: string;
  sizeGiB: number;
  availabilityZone: string;
  createTime: Date;
  tags: Map<string, string>;
  lifecycle: SimVolumeLifecycle;
  /** A volume DeleteVolume put in `deleting` vanishes (NotFound from then on) at this instant. */
  goneAt?: Date;
  attachment?: SimAttachment;
}

export interface SimSnapshot {
  snapshotId: string;
  volumeId: string;
  sizeGiB: number;
  description: string;
  startTime: Date;
  completesAt: Date;
  failed: boolean;
  tags: Map<string, string>;
}

/** A snapshot as observed at one instant. */
export interface SnapshotObservation {
  state: SimSnapshotState;
  progressPercent: number;
}

const snapshotIntervalMs = 15_000;
const hexId = (prefix: string, n: number) => `${prefix}-${n.toString(16).padStart(17, '0')}`;

/** How long the timed volume transitions take, in seconds on the clock; 0 makes them instant. */
export interface VolumeTimings {
  /** DeleteVolume → `deleting` for this long → gone. */
  deleteSeconds: number;
  /** A detach → attachment `detaching` (volume still `in-use`) for this long → `available`. */
  detachSeconds: number;
}

/** The volume EC2 would report: `in-use` while an attachment other than `detached` exists. */
export function observedVolumeState(volume: SimVolume): SimVolumeState {
  const attached = volume.attachment !== undefined && volume.attachment.state !== 'detached';
  return volume.lifecycle === 'available' && attached ? 'in-use' : volume.lifecycle;
}

export class Ec2State {
  readonly volumes = new IndexedResources<SimVolume>(() => []);
  readonly snapshots = new IndexedResources<SimSnapshot>((snapshot) => [['volume-id', snapshot.volumeId]]);
  /** How many resources the Describe actions have looked at: with the indexes, what they matched. */
  examined = 0;
  readonly volumeTimings: VolumeTimings = { deleteSeconds: 0, detachSeconds: 0 };
  /** When CreateSnapshot last succeeded for each volume, for the per-volume rate limit. */
  private readonly lastSnapshotAt = new Map<string, number>();
  /**
   * Volumes given a timed transition (a `goneAt`, an attachment's `endsAt`) since `settle` last
   * found them without one; an entry whose transition was scripted away since is dropped there.
   */
  private readonly timed = new Set<string>();
  private nextId = 1;

  constructor(
    private readonly clock: Clock,
    public snapshotCompletionSeconds: number,
  ) {}

  /** Applies the timed transitions that are due by the clock. */
  settle(): void {
    const now = this.clock.now().getTime();
    for (const volumeId of this.timed) {
      const volume = this.volumes.get(volumeId);
      if (volume?.goneAt !== undefined && volume.goneAt.getTime() <= now) this.volumes.delete(volumeId);
      const endsAt = volume?.attachment?.endsAt;
      if (volume && endsAt !== undefined && endsAt.getTime() <= now) delete volume.attachment;
      const pending = volume?.goneAt !== undefined || volume?.attachment?.endsAt !== undefined;
      if (!this.volumes.has(volumeId) || !pending) this.timed.delete(volumeId);
    }
  }

  now(): Date {
    return this.clock.now();
  }

  /** Ids never repeat one already in use, seeded ones included (a seeded id is never overwritten). */
  newVolumeId(): string {
    return this.freshId('vol', this.volumes);
  }

  newSnapshotId(): string {
    return this.freshId('snap', this.snapshots);
  }

  private freshId(prefix: string, taken: ReadonlyMap<string, unknown>): string {
    let id = hexId(prefix, this.nextId++);
    while (taken.has(id)) id = hexId(prefix, this.nextId++);
    return id;
  }

  /**
   * EC2 allows one CreateSnapshot per volume every 15 seconds ("SnapshotCreationPerVolumeRateExceeded:
   * The rate limit for creating concurrent snapshots of an EBS volume has been exceeded. Wait at
   * least 15 seconds between concurrent volume snapshots", EC2 API error codes).
   */
  checkSnapshotRate(volumeId: string): void {
    const last = this.lastSnapshotAt.get(volumeId);
    if (last !== undefined && this.clock.now().getTime() - last < snapshotIntervalMs) {
      throw new Ec2Error(
        'SnapshotCreationPerVolumeRateExceeded',
        'The maximum per volume CreateSnapshot request rate has been exceeded. Use an increasing or variable sleep interval between requests.',
      );
    }
  }

  snapshotTaken(volumeId: string): void {
    this.lastSnapshotAt.set(volumeId, this.clock.now().getTime());
  }

  volume(volumeId: string): SimVolume {
    const volume = this.volumes.get(volumeId);
    if (!volume) throw notFound.volume(volumeId);
    return volume;
  }

  snapshot(snapshotId: string): SimSnapshot {
    const snapshot = this.snapshots.get(snapshotId);
    if (!snapshot) throw notFound.snapshot(snapshotId);
    return snapshot;
  }

  observe(snapshot: SimSnapshot): SnapshotObservation {
    if (snapshot.failed) return { state: 'error', progressPercent: 0 };
    const totalMs = snapshot.completesAt.getTime() - snapshot.startTime.getTime();
    const elapsedMs = this.clock.now().getTime() - snapshot.startTime.getTime();
    if (elapsedMs >= totalMs) return { state: 'completed', progressPercent: 100 };
    // Real EC2 never reports 100% while pending; neither do we.
    return { state: 'pending', progressPercent: Math.min(99, Math.floor((Math.max(0, elapsedMs) / totalMs) * 100)) };
  }

  attach(volumeId: string, instanceId: string, device = '/dev/xvdf', state: SimAttachmentState = 'attached'): void {
    const volume = this.volume(volumeId);
    if (volume.attachment && volume.attachment.state !== 'detached') {
      throw new Ec2Error('VolumeInUse', `${volumeId} is already attached to an instance`);
    }
    volume.attachment = { instanceId, device, attachTime: this.clock.now(), state };
  }

  /**
   * What the attach/detach controller's DetachVolume does: `detaching` for `detachSeconds`, then
   * no attachment (the volume is `available`). A detach already under way keeps its end time.
   */
  detach(volumeId: string): void {
    const volume = this.volume(volumeId);
    const attachment = volume.attachment;
    if (!attachment || attachment.state === 'detaching') return;
    const seconds = this.volumeTimings.detachSeconds;
    if (seconds <= 0 || attachment.state === 'detached') return void delete volume.attachment;
    attachment.state = 'detaching';
    attachment.endsAt = new Date(this.clock.now().getTime() + seconds * 1000);
    this.timed.add(volumeId);
  }

  /** DeleteVolume accepted: `deleting` for `deleteSeconds`, then gone. */
  beginDelete(volume: SimVolume): void {
    const seconds = this.volumeTimings.deleteSeconds;
    if (seconds <= 0) return void this.volumes.delete(volume.volumeId);
    volume.lifecycle = 'deleting';
    volume.goneAt = new Date(this.clock.now().getTime() + seconds * 1000);
    this.timed.add(volume.volumeId);
  }

  /**
   * Scripts a volume state; it holds until changed (no timer). `in-use` attaches the volume (to
   * `sim-instance` when it had no attachment); `available` removes its attachment; `deleting` and
   * `deleted` remove it too, as EC2 only deletes detached volumes.
   */
  setVolumeState(volumeId: string, state: SimVolumeState): void {
    const volume = this.volume(volumeId);
    delete volume.goneAt;
    if (state === 'in-use') {
      volume.lifecycle = 'available';
      if (!volume.attachment || volume.attachment.state === 'detached') this.attach(volumeId, 'sim-instance');
      return;
    }
    volume.lifecycle = state;
    if (state === 'available' || state === 'deleting' || state === 'deleted') delete volume.attachment;
  }

  /**
   * Scripts the attachment state; it holds until changed (no timer). A volume without an
   * attachment gets one to `sim-instance`. `detached` keeps the attachment item, as DescribeVolumes
   * shows it briefly after a detach, and the volume reports `available`.
   */
  setAttachmentState(volumeId: string, state: SimAttachmentState): void {
    const volume = this.volume(volumeId);
    if (!volume.attachment) this.attach(volumeId, 'sim-instance', '/dev/xvdf', state);
    const attachment = volume.attachment as SimAttachment;
    attachment.state = state;
    delete attachment.endsAt;
  }

  /**
   * Scripts a snapshot's state: `error` from now on; `completed` at once; `pending` again from
   * now, completing after `snapshotCompletionSeconds`.
   */
  setSnapshotState(snapshotId: string, state: SimSnapshotState): void {
    const snapshot = this.snapshot(snapshotId);
    snapshot.failed = state === 'error';
    if (state === 'completed') snapshot.completesAt = snapshot.startTime;
    if (state === 'pending') {
      snapshot.startTime = this.clock.now();
      snapshot.completesAt = new Date(snapshot.startTime.getTime() + this.snapshotCompletionSeconds * 1000);
    }
  }

  reset(): void {
    this.volumes.clear();
    this.snapshots.clear();
    this.lastSnapshotAt.clear();
    this.timed.clear();
    this.nextId = 1;
  }
}

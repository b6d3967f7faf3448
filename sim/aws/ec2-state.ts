/*
 * The simulated EC2 account: volumes with their attachment and snapshots whose state follows the
 * clock. Snapshot progress is computed on every read from `startTime` and the clock rather than by
 * timers, so a ManualClock moved by a test is all it takes to complete a snapshot.
 */
import type { Clock } from '../../shared/clock.js';
import { Ec2Error, notFound } from './ec2-error.js';

export const simAccountId = '123456789012';

export type SimVolumeState = 'available' | 'in-use';
export type SimSnapshotState = 'pending' | 'completed' | 'error';

export interface SimAttachment {
  instanceId: string;
  device: string;
  attachTime: Date;
}

export interface SimVolume {
  volumeId: string;
  sizeGiB: number;
  availabilityZone: string;
  createTime: Date;
  tags: Map<string, string>;
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

const hexId = (prefix: string, n: number) => `${prefix}-${n.toString(16).padStart(17, '0')}`;

export class Ec2State {
  readonly volumes = new Map<string, SimVolume>();
  readonly snapshots = new Map<string, SimSnapshot>();
  private nextId = 1;

  constructor(private readonly clock: Clock, public snapshotCompletionSeconds: number) {}

  now(): Date {
    return this.clock.now();
  }

  newVolumeId(): string {
    return hexId('vol', this.nextId++);
  }

  newSnapshotId(): string {
    return hexId('snap', this.nextId++);
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

  attach(volumeId: string, instanceId: string, device = '/dev/xvdf'): void {
    const volume = this.volume(volumeId);
    if (volume.attachment) {
      throw new Ec2Error('VolumeInUse', `${volumeId} is already attached to an instance`);
    }
    volume.attachment = { instanceId, device, attachTime: this.clock.now() };
  }

  detach(volumeId: string): void {
    delete this.volume(volumeId).attachment;
  }

  reset(): void {
    this.volumes.clear();
    this.snapshots.clear();
    this.nextId = 1;
  }
}

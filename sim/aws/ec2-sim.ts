/*
 * The EC2 half of the AWS simulator: answers Query requests and offers the scenario API tests and
 * the demo seed use to arrange volumes and snapshots.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../shared/clock.js';
import type { SimAnswer } from './answer.js';
import { ec2ErrorAnswer } from './answer.js';
import { ec2Actions } from './ec2-actions.js';
import { Ec2Error } from './ec2-error.js';
import type { Ec2Params } from './ec2-params.js';
import { validateIds } from './ec2-params.js';
import { Ec2State } from './ec2-state.js';
import { observedVolumeState } from './ec2-state.js';
import type { SimAttachmentState, SimSnapshot, SimSnapshotState, SimVolume, SimVolumeState } from './ec2-state.js';
import { ec2ResponseXml } from './ec2-xml.js';

export interface VolumeSpec {
  volumeId?: string;
  sizeGiB: number;
  availabilityZone?: string;
  tags?: Record<string, string>;
  /** Instance id or pod reference the volume is attached to; the volume is `in-use` when set. */
  attachedTo?: string;
  /** `available` (or `in-use` with attachedTo) by default; any other state holds until changed. */
  state?: SimVolumeState;
}

export interface SnapshotSpec {
  snapshotId?: string;
  volumeId: string;
  /** Defaults to the volume's size; required when the volume does not exist (any more). */
  sizeGiB?: number;
  /** `completed` by default: seeded snapshots are usually history. */
  state?: SimSnapshotState;
  startTime?: Date;
  description?: string;
  tags?: Record<string, string>;
}

export interface VolumeView {
  volumeId: string;
  state: SimVolumeState;
  sizeGiB: number;
  availabilityZone: string;
  attachedTo?: string;
  attachmentState?: SimAttachmentState;
  tags: Record<string, string>;
}

export interface SnapshotView {
  snapshotId: string;
  volumeId: string;
  state: SimSnapshotState;
  progressPercent: number;
  startTime: Date;
  sizeGiB: number;
  description: string;
  tags: Record<string, string>;
}

export class Ec2Sim {
  readonly state: Ec2State;

  constructor(clock: Clock, snapshotCompletionSeconds: number) {
    this.state = new Ec2State(clock, snapshotCompletionSeconds);
  }

  run(action: string, params: Ec2Params): SimAnswer {
    this.state.settle();
    const handler = Object.hasOwn(ec2Actions, action) ? ec2Actions[action] : undefined;
    if (!handler)
      return ec2ErrorAnswer(400, 'InvalidAction', `The action ${action} is not valid for this web service.`);
    try {
      const body = ec2ResponseXml(action, randomUUID(), handler(this.state, params));
      return { status: 200, headers: { 'Content-Type': 'text/xml;charset=UTF-8' }, body };
    } catch (err) {
      if (err instanceof Ec2Error) return ec2ErrorAnswer(err.status, err.code, err.message);
      throw err;
    }
  }

  addVolume(spec: VolumeSpec): VolumeView {
    const volumeId = spec.volumeId ?? this.state.newVolumeId();
    validateIds([volumeId], 'vol');
    const volume: SimVolume = {
      volumeId,
      sizeGiB: spec.sizeGiB,
      availabilityZone: spec.availabilityZone ?? 'us-east-1a',
      createTime: this.state.now(),
      tags: new Map(Object.entries(spec.tags ?? {})),
      lifecycle: 'available',
    };
    this.state.volumes.set(volumeId, volume);
    if (spec.attachedTo !== undefined) this.state.attach(volumeId, spec.attachedTo);
    if (spec.state !== undefined && spec.state !== 'in-use') this.state.setVolumeState(volumeId, spec.state);
    if (spec.state === 'in-use' && spec.attachedTo === undefined) this.state.setVolumeState(volumeId, 'in-use');
    return this.volumeView(volume);
  }

  addSnapshot(spec: SnapshotSpec): SnapshotView {
    const snapshotId = spec.snapshotId ?? this.state.newSnapshotId();
    validateIds([snapshotId], 'snap');
    const sizeGiB = spec.sizeGiB ?? this.state.volumes.get(spec.volumeId)?.sizeGiB;
    if (sizeGiB === undefined) throw new Error(`addSnapshot: volume ${spec.volumeId} does not exist; give sizeGiB`);
    const startTime = spec.startTime ?? this.state.now();
    const state = spec.state ?? 'completed';
    const pendingMs = state === 'pending' ? this.state.snapshotCompletionSeconds * 1000 : 0;
    const snapshot: SimSnapshot = {
      snapshotId,
      volumeId: spec.volumeId,
      sizeGiB,
      description: spec.description ?? '',
      startTime,
      completesAt: new Date(startTime.getTime() + pendingMs),
      failed: state === 'error',
      tags: new Map(Object.entries(spec.tags ?? {})),
    };
    this.state.snapshots.set(snapshotId, snapshot);
    return this.snapshotView(snapshot);
  }

  failSnapshot(snapshotId: string): void {
    this.state.snapshot(snapshotId).failed = true;
  }

  volumeView(volume: SimVolume): VolumeView {
    return {
      volumeId: volume.volumeId,
      state: observedVolumeState(volume),
      sizeGiB: volume.sizeGiB,
      availabilityZone: volume.availabilityZone,
      attachedTo: volume.attachment?.instanceId,
      attachmentState: volume.attachment?.state,
      tags: Object.fromEntries(volume.tags),
    };
  }

  snapshotView(snapshot: SimSnapshot): SnapshotView {
    const seen = this.state.observe(snapshot);
    return {
      snapshotId: snapshot.snapshotId,
      volumeId: snapshot.volumeId,
      state: seen.state,
      progressPercent: seen.progressPercent,
      startTime: snapshot.startTime,
      sizeGiB: snapshot.sizeGiB,
      description: snapshot.description,
      tags: Object.fromEntries(snapshot.tags),
    };
  }
}

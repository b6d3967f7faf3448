/*
 * Pod lifecycle in the simulated cluster: instant scheduling, graceful deletion measured on the
 * injected clock (Terminating, then gone at deletionTimestamp), per-container filesystems, and the
 * record of everything exec'd and broadcast. A pod that disappears is announced to `onGone`
 * listeners (the combined server uses this to detach the pod's EBS volumes in the AWS simulator).
 */
import type { Clock } from '../../shared/clock.js';
import { MemoryFilesystem } from './filesystem.js';
import type { Pod, PodPhase, PodStatus } from './pod-status.js';
import { podStatus } from './pod-status.js';
import type { KubeObject, NewObject, ObjectStore } from './store.js';
import { notFound, timestamp } from './status.js';
import { objectKey } from './type-index.js';

export interface PodRef {
  namespace: string;
  name: string;
}

export interface Broadcast {
  namespace: string;
  pod: string;
  container: string;
  message: string;
  at: Date;
}

export class Pods {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly filesystems = new Map<string, MemoryFilesystem>();
  private readonly goneListeners = new Set<(pod: Pod) => void>();
  /**
   * Pods given a deletion deadline, by key: what tick() reads, so the end of a grace period costs
   * the terminating pods rather than a walk over every pod (seconds at a fleet of 10,000 pods).
   */
  private readonly terminating = new Map<string, PodRef>();
  private addresses = 0;
  readonly broadcasts: Broadcast[] = [];
  /** Nodes whose kubelet stopped answering: nothing on them finishes terminating. */
  readonly lostNodes = new Set<string>();

  constructor(
    private readonly store: ObjectStore,
    private readonly clock: Clock,
  ) {}

  /** Creates a pod that is scheduled at once and in `phase` (Running unless told otherwise). */
  create(body: NewObject, phase: PodPhase = 'Running'): Pod {
    const spec = body.spec as Pod['spec'];
    const scheduled = phase === 'Pending' ? spec : { nodeName: 'sim-node-1', ...spec };
    const pod = { ...body, spec: { restartPolicy: 'Always', terminationGracePeriodSeconds: 30, ...scheduled } };
    const status = podStatus(pod, phase, this.clock.now(), this.nextAddress());
    return this.store.create('pods', { ...pod, status }) as Pod;
  }

  get(ref: PodRef): Pod {
    const pod = this.store.get('pods', ref.namespace, ref.name) as Pod | undefined;
    if (!pod) throw notFound('pods', ref.name);
    return pod;
  }

  setPhase(ref: PodRef, phase: PodPhase): Pod {
    const pod = this.get(ref);
    return this.setStatus(pod, podStatus(pod, phase, this.clock.now(), pod.status.podIP ?? this.nextAddress()));
  }

  setStatus(pod: Pod, status: PodStatus): Pod {
    return this.store.update('pods', { ...pod, status }) as Pod;
  }

  /**
   * Deletes as the API server does: unscheduled and finished pods go at once; others are marked
   * Terminating (deletionTimestamp = now + grace) and removed when the grace period has passed.
   * A repeated delete may only shorten the grace period, and the new deadline counts from the
   * first delete: deletionTimestamp - old grace + new grace (apiserver registry/rest BeforeDelete).
   */
  delete(ref: PodRef, graceSeconds: number | undefined): Pod {
    const pod = this.get(ref);
    const finished = !pod.spec.nodeName || pod.status.phase === 'Succeeded' || pod.status.phase === 'Failed';
    const grace = finished ? 0 : Math.max(0, graceSeconds ?? Number(pod.spec.terminationGracePeriodSeconds ?? 30));
    if (grace === 0) return this.removeNow(ref);
    const current = pod.metadata.deletionTimestamp;
    const currentGrace = pod.metadata.deletionGracePeriodSeconds;
    if (current !== undefined && (graceSeconds === undefined || currentGrace === undefined || grace >= currentGrace))
      return pod;
    const since = current !== undefined ? Date.parse(current) - (currentGrace ?? 0) * 1000 : this.clock.now().getTime();
    const deadline = new Date(since + grace * 1000);
    const terminating = this.store.update('pods', {
      ...pod,
      metadata: { ...pod.metadata, deletionTimestamp: timestamp(deadline), deletionGracePeriodSeconds: grace },
    }) as Pod;
    if (!this.store.dryRunning) {
      this.terminating.set(objectKey(ref.namespace, ref.name), { namespace: ref.namespace, name: ref.name });
      this.wakeAt(Math.max(0, deadline.getTime() - this.clock.now().getTime()));
    }
    return terminating;
  }

  /**
   * Removes pods whose grace period has ended by the clock; returns how many went. Pods on a lost
   * node stay Terminating: only their kubelet confirms the end (or a grace-0 force delete).
   */
  tick(): number {
    const now = this.clock.now().getTime();
    const due: [string, PodRef][] = [];
    for (const [key, ref] of this.terminating) {
      const pod = this.store.get('pods', ref.namespace, ref.name) as Pod | undefined;
      const at = pod?.metadata.deletionTimestamp;
      if (at === undefined)
        this.terminating.delete(key); // gone, or replaced by a pod not terminating
      else if (Date.parse(at) <= now && !(pod!.spec.nodeName !== undefined && this.lostNodes.has(pod!.spec.nodeName)))
        due.push([key, ref]);
    }
    // In key order, as a walk over every pod would find them.
    due.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [key, ref] of due) {
      this.terminating.delete(key);
      this.removeNow(ref);
    }
    return due.length;
  }

  removeNow(ref: PodRef): Pod {
    const gone = this.store.remove('pods', ref.namespace, ref.name) as Pod;
    if (this.store.dryRunning) return gone;
    for (const key of this.filesystems.keys()) {
      if (key.startsWith(`${gone.metadata.uid}/`)) this.filesystems.delete(key);
    }
    for (const listener of this.goneListeners) listener(gone);
    return gone;
  }

  onGone(listener: (pod: Pod) => void): () => void {
    this.goneListeners.add(listener);
    return () => this.goneListeners.delete(listener);
  }

  /** The container's filesystem, where `/home/dev` and `/tmp` exist from the start. */
  filesystem(pod: KubeObject, container: string): MemoryFilesystem {
    const key = `${pod.metadata.uid}/${container}`;
    let fs = this.filesystems.get(key);
    if (!fs) {
      fs = new MemoryFilesystem(['/home/dev', '/tmp']);
      this.filesystems.set(key, fs);
    }
    return fs;
  }

  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  // With the system clock this is what ends grace periods; with a ManualClock it finds nothing due
  // (time has not moved) and tests call tick() after advancing the clock.
  private wakeAt(delayMs: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.tick();
    }, delayMs + 5);
    timer.unref();
    this.timers.add(timer);
  }

  private nextAddress(): string {
    this.addresses += 1;
    return `10.244.${Math.floor(this.addresses / 250)}.${(this.addresses % 250) + 2}`;
  }
}

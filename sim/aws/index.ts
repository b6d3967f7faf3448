/*
 * Simulated EC2 (Query API, 2016-11-15) and Lambda (Invoke) that the real AWS SDK v3 clients talk
 * to over HTTP. Mounted by the combined simulator server (sim/server.ts), which offers every
 * non-Kubernetes request to `handle`. State follows the injected clock, never the wall clock.
 */
import type http from 'node:http';
import type { Clock } from '../../shared/clock.js';
import { FaultBook, faultAnswer } from './aws-faults.js';
import type { AwsFault, AwsFaultRule, AwsService } from './aws-faults.js';
import { Ec2Sim } from './ec2-sim.js';
import type { SnapshotSpec, SnapshotView, VolumeSpec, VolumeView } from './ec2-sim.js';
import type { SimAttachmentState, SimSnapshotState, SimVolumeState, VolumeTimings } from './ec2-state.js';
import { LambdaSim } from './lambda.js';
import type { LambdaInvocation, LambdaResponder } from './lambda.js';
import { classify, holdAnswer, send } from './requests.js';
import { appendBounded } from '../kube/bounded.js';

export type {
  AwsFault,
  AwsFaultRule,
  LambdaInvocation,
  LambdaResponder,
  SnapshotSpec,
  SnapshotView,
  VolumeSpec,
  VolumeView,
};
export type { SimAttachmentState, SimSnapshotState, SimVolumeState, VolumeTimings };

export interface AwsSimOptions {
  clock: Clock;
  /** How long a new snapshot stays `pending`, measured on the clock; 60 s when absent. */
  snapshotCompletionSeconds?: number;
  /**
   * How long a deleted volume stays `deleting` and a detaching attachment `detaching`, on the
   * clock; 0 (instant) when absent.
   */
  volumeTimings?: Partial<VolumeTimings>;
}

/** One request that reached the simulator, in arrival order, including those a fault answered. */
export interface AwsCall {
  service: AwsService;
  /** EC2 `Action`, or `Invoke` for Lambda. */
  action: string;
  /** EC2: the form parameters except Action and Version; Lambda: FunctionName and InvocationType. */
  params: Record<string, string>;
  at: Date;
  fault?: AwsFault['kind'];
}

export interface AwsSim {
  /** Answers an EC2 or Lambda request; false when the request is neither (so the caller 404s). */
  handle(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<boolean>;

  addVolume(spec: VolumeSpec): VolumeView;
  attachVolume(volumeId: string, attachedTo: string): void;
  /**
   * What the cluster does when a pod holding the volume is gone: `in-use` → `available`, through
   * an attachment `detaching` for `volumeTimings.detachSeconds` when that is above 0.
   */
  detachVolume(volumeId: string): void;
  /** Scripts the volume's state; it holds until changed. See Ec2State.setVolumeState. */
  setVolumeState(volumeId: string, state: SimVolumeState): void;
  /** Scripts the attachment's state (creating one when there is none); it holds until changed. */
  setAttachmentState(volumeId: string, state: SimAttachmentState): void;
  /** Applies to deletes and detaches started after the call. */
  setVolumeTimings(timings: Partial<VolumeTimings>): void;
  addSnapshot(spec: SnapshotSpec): SnapshotView;
  /** The snapshot reports `error` from now on. */
  failSnapshot(snapshotId: string): void;
  /** `error` from now on, `completed` at once, or `pending` again (completing after the completion time). */
  setSnapshotState(snapshotId: string, state: SimSnapshotState): void;
  /** Applies to snapshots created after the call. */
  setSnapshotCompletionSeconds(seconds: number): void;
  /** `respond` computes RequestResponse results (default `null`); Event invocations never run it. */
  addFunction(name: string, respond?: LambdaResponder): void;
  addFault(rule: AwsFaultRule): void;
  clearFaults(): void;

  volumes(): VolumeView[];
  volume(volumeId: string): VolumeView | undefined;
  snapshots(): SnapshotView[];
  snapshot(snapshotId: string): SnapshotView | undefined;
  invocations(functionName?: string): LambdaInvocation[];
  calls(): AwsCall[];
  /** How many volumes and snapshots the Describe actions have looked at so far (their cost). */
  examined(): number;
  /** Forgets recorded calls and invocations; state stays. */
  clear(): void;
  /** Forgets everything: volumes, snapshots, functions, faults and records; volume timings go back to the options'. */
  reset(): void;
}

interface SimParts {
  clock: Clock;
  ec2: Ec2Sim;
  lambda: LambdaSim;
  faults: FaultBook;
  callLog: AwsCall[];
  initialTimings: Partial<VolumeTimings>;
}

async function handleRequest(
  parts: SimParts,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  body: Buffer,
): Promise<boolean> {
  const request = classify(req, body, parts.ec2, parts.lambda);
  if (!request) return false;
  const fault = parts.faults.take(request.service, request.action);
  const { service, action, params } = request;
  appendBounded(parts.callLog, { service, action, params, at: parts.clock.now(), fault: fault?.kind });
  if (fault?.kind === 'reset') {
    req.socket.destroy();
    return true;
  }
  const answer = fault?.kind === 'throttle' || fault?.kind === 'error' ? faultAnswer(service, fault) : request.run();
  if (fault?.kind === 'lose-response') {
    req.socket.destroy();
    return true;
  }
  if (fault?.kind === 'delay') await holdAnswer(res, fault.delayMs);
  send(res, answer);
  return true;
}

type Scenario = Omit<AwsSim, 'handle' | Inspection>;
type Inspection =
  'volumes' | 'volume' | 'snapshots' | 'snapshot' | 'invocations' | 'calls' | 'examined' | 'clear' | 'reset';

function scenario({ ec2, lambda, faults }: SimParts): Scenario {
  const { state } = ec2;
  // Scenario changes start from the state the clock has reached, as API calls do.
  const settled =
    <A extends unknown[]>(change: (...args: A) => void) =>
    (...args: A) => {
      state.settle();
      change(...args);
    };
  return {
    addVolume: (spec) => ec2.addVolume(spec),
    attachVolume: settled((volumeId: string, attachedTo: string) => state.attach(volumeId, attachedTo)),
    detachVolume: settled((volumeId: string) => state.detach(volumeId)),
    setVolumeState: settled((volumeId: string, volumeState: SimVolumeState) =>
      state.setVolumeState(volumeId, volumeState),
    ),
    setAttachmentState: settled((volumeId: string, attachmentState: SimAttachmentState) =>
      state.setAttachmentState(volumeId, attachmentState),
    ),
    setVolumeTimings: (timings) => void Object.assign(state.volumeTimings, timings),
    addSnapshot: (spec) => ec2.addSnapshot(spec),
    failSnapshot: (snapshotId) => ec2.failSnapshot(snapshotId),
    setSnapshotState: (snapshotId, snapshotState) => state.setSnapshotState(snapshotId, snapshotState),
    setSnapshotCompletionSeconds: (seconds) => {
      state.snapshotCompletionSeconds = seconds;
    },
    addFunction: (name, respond) => lambda.addFunction(name, respond),
    addFault: (rule) => faults.add(rule),
    clearFaults: () => faults.clear(),
  };
}

function inspection({ ec2, lambda, faults, callLog, initialTimings }: SimParts): Pick<AwsSim, Inspection> {
  const { state } = ec2;
  const forget = () => {
    callLog.length = 0;
    lambda.invocations.length = 0;
  };
  return {
    volumes: () => {
      state.settle();
      return [...state.volumes.values()].map((v) => ec2.volumeView(v));
    },
    volume: (volumeId) => {
      state.settle();
      const volume = state.volumes.get(volumeId);
      return volume && ec2.volumeView(volume);
    },
    snapshots: () => [...state.snapshots.values()].map((s) => ec2.snapshotView(s)),
    snapshot: (snapshotId) => {
      const snapshot = state.snapshots.get(snapshotId);
      return snapshot && ec2.snapshotView(snapshot);
    },
    invocations: (functionName) =>
      lambda.invocations.filter((i) => functionName === undefined || i.functionName === functionName),
    calls: () => [...callLog],
    examined: () => state.examined,
    clear: forget,
    reset: () => {
      state.reset();
      Object.assign(state.volumeTimings, { deleteSeconds: 0, detachSeconds: 0 }, initialTimings);
      lambda.reset();
      faults.clear();
      forget();
    },
  };
}

export function createAwsSim(options: AwsSimOptions): AwsSim {
  const parts: SimParts = {
    clock: options.clock,
    ec2: new Ec2Sim(options.clock, options.snapshotCompletionSeconds ?? 60),
    lambda: new LambdaSim(options.clock),
    faults: new FaultBook(),
    callLog: [],
    initialTimings: { ...options.volumeTimings },
  };
  Object.assign(parts.ec2.state.volumeTimings, options.volumeTimings);
  return {
    handle: (req, res, body) => handleRequest(parts, req, res, body),
    ...scenario(parts),
    ...inspection(parts),
  };
}

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
import { LambdaSim } from './lambda.js';
import type { LambdaInvocation, LambdaResponder } from './lambda.js';
import { classify, holdAnswer, send } from './requests.js';
import { appendBounded } from '../kube/bounded.js';

export type { AwsFault, AwsFaultRule, LambdaInvocation, LambdaResponder, SnapshotSpec, SnapshotView, VolumeSpec, VolumeView };

export interface AwsSimOptions {
  clock: Clock;
  /** How long a new snapshot stays `pending`, measured on the clock; 60 s when absent. */
  snapshotCompletionSeconds?: number;
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
  /** What the cluster does when a pod holding the volume is gone: `in-use` → `available`. */
  detachVolume(volumeId: string): void;
  addSnapshot(spec: SnapshotSpec): SnapshotView;
  /** The snapshot reports `error` from now on. */
  failSnapshot(snapshotId: string): void;
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
  /** Forgets recorded calls and invocations; state stays. */
  clear(): void;
  /** Forgets everything: volumes, snapshots, functions, faults and records. */
  reset(): void;
}

interface SimParts {
  clock: Clock;
  ec2: Ec2Sim;
  lambda: LambdaSim;
  faults: FaultBook;
  callLog: AwsCall[];
}

async function handleRequest(parts: SimParts, req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<boolean> {
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
type Inspection = 'volumes' | 'volume' | 'snapshots' | 'snapshot' | 'invocations' | 'calls' | 'clear' | 'reset';

function scenario({ ec2, lambda, faults }: SimParts): Scenario {
  const { state } = ec2;
  return {
    addVolume: (spec) => ec2.addVolume(spec),
    attachVolume: (volumeId, attachedTo) => state.attach(volumeId, attachedTo),
    detachVolume: (volumeId) => state.detach(volumeId),
    addSnapshot: (spec) => ec2.addSnapshot(spec),
    failSnapshot: (snapshotId) => ec2.failSnapshot(snapshotId),
    setSnapshotCompletionSeconds: (seconds) => { state.snapshotCompletionSeconds = seconds; },
    addFunction: (name, respond) => lambda.addFunction(name, respond),
    addFault: (rule) => faults.add(rule),
    clearFaults: () => faults.clear(),
  };
}

function inspection({ ec2, lambda, faults, callLog }: SimParts): Pick<AwsSim, Inspection> {
  const { state } = ec2;
  const forget = () => {
    callLog.length = 0;
    lambda.invocations.length = 0;
  };
  return {
    volumes: () => [...state.volumes.values()].map((v) => ec2.volumeView(v)),
    volume: (volumeId) => {
      const volume = state.volumes.get(volumeId);
      return volume && ec2.volumeView(volume);
    },
    snapshots: () => [...state.snapshots.values()].map((s) => ec2.snapshotView(s)),
    snapshot: (snapshotId) => {
      const snapshot = state.snapshots.get(snapshotId);
      return snapshot && ec2.snapshotView(snapshot);
    },
    invocations: (functionName) => lambda.invocations.filter((i) => functionName === undefined || i.functionName === functionName),
    calls: () => [...callLog],
    clear: forget,
    reset: () => {
      state.reset();
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
  };
  return {
    handle: (req, res, body) => handleRequest(parts, req, res, body),
    ...scenario(parts),
    ...inspection(parts),
  };
}

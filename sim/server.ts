/*
 * The combined simulator: one HTTP server on loopback that serves the Kubernetes API (paths under
 * /api, /apis, /version, /openapi, plus pod exec upgrades) and offers every other request to the
 * AWS simulator (EC2 Query and Lambda). Route faults apply to both, before dispatch; every request
 * is recorded in order. When a pod disappears, the EBS volumes it mounted are detached in the AWS
 * simulator, as the attach/detach controller would do.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Clock } from '../shared/clock.js';
import { systemClock } from '../shared/clock.js';
import { createAwsSim } from './aws/index.js';
import type { AwsSim } from './aws/index.js';
import { controlPrefix, handleControl } from './control.js';
import type { RecordedRequest } from './recorded-request.js';
import { Faults, seededRandom } from './faults.js';
import type { Fault, FaultEffect } from './faults.js';
import { createKubeSim } from './kube/index.js';
import type { KubeScenario, KubeSim } from './kube/index.js';
import { appendBounded } from './kube/bounded.js';
import { queryFlag } from './kube/query.js';
import { simKubeConfig, simKubeconfigYaml } from './kube/kubeconfig.js';
import { sendJson, statusBody } from './kube/status.js';

export interface SimOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** A loopback address; 127.0.0.1 by default. */
  host?: string;
  clock?: Clock;
  /** Seed for fault probabilities; 1 by default. */
  faultSeed?: number;
}

export type { RecordedRequest } from './recorded-request.js';

export interface Sim {
  url: string;
  token: string;
  kube: KubeScenario;
  aws: AwsSim;
  faults: Faults;
  /** The most recent 10,000 requests, oldest first. */
  requests: { all(): RecordedRequest[]; clear(): void };
  /** A client configuration for the simulator: plain http, bearer token, namespace `default`. */
  kubeConfig(): KubeConfig;
  /** The same as a kubeconfig file that kubectl accepts. */
  kubeconfigYaml(): string;
  close(): Promise<void>;
}

const kubePath = /^\/(api|apis|version|openapi)(\/|$)/;
// The control API (sim/control.ts) lives under /_sim/, outside every path a real API answers.
const keptHeaders = ['accept', 'content-type', 'authorization', 'user-agent', 'sec-websocket-protocol', 'upgrade'];
const token = 'devenv-sim-token';

function record(log: RecordedRequest[], req: http.IncomingMessage, url: URL, body: Buffer, clock: Clock): void {
  const headers = Object.fromEntries(
    keptHeaders.flatMap((name) => {
      const value = req.headers[name];
      return value === undefined ? [] : [[name, Array.isArray(value) ? value.join(', ') : value]];
    }),
  );
  appendBounded(log, {
    method: req.method ?? 'GET',
    path: url.pathname,
    query: url.searchParams,
    headers,
    body: body.toString('utf8'),
    at: clock.now(),
  });
}

function isWatch(url: URL): boolean {
  return kubePath.test(url.pathname) && queryFlag(url.searchParams, 'watch');
}

/** Waits `ms`, or less if the client hangs up first. */
async function hold(closed: Promise<unknown>, ms: number): Promise<void> {
  const done = new AbortController();
  await Promise.race([sleep(ms, undefined, { signal: done.signal }).catch(() => undefined), closed]);
  done.abort();
}

function answer(res: http.ServerResponse, effect: FaultEffect & { kind: 'answer' }): void {
  res.writeHead(effect.status, {
    ...effect.headers,
    'Content-Type': effect.contentType,
    'Content-Length': Buffer.byteLength(effect.body),
  });
  res.end(effect.body);
}

function answerUpgrade(socket: Duplex, effect: FaultEffect & { kind: 'answer' }): void {
  const head = [
    `HTTP/1.1 ${effect.status} ${http.STATUS_CODES[effect.status] ?? 'Error'}`,
    `Content-Type: ${effect.contentType}`,
    `Content-Length: ${Buffer.byteLength(effect.body)}`,
    'Connection: close',
    ...Object.entries(effect.headers).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.end(`${head.join('\r\n')}\r\n\r\n${effect.body}`);
}

interface Parts {
  clock: Clock;
  kube: KubeSim;
  aws: AwsSim;
  faults: Faults;
  log: RecordedRequest[];
}

async function serve(parts: Parts, req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://sim');
  if (url.pathname.startsWith(controlPrefix) || url.pathname === controlPrefix.slice(0, -1)) {
    return handleControl({ ...parts, kube: parts.kube.scenario }, req, res, body);
  }
  record(parts.log, req, url, body, parts.clock);
  const fault: Fault | undefined = parts.faults.take(req.method ?? 'GET', url, isWatch(url));
  if (fault && fault.delayMs > 0) await hold(once(res, 'close'), fault.delayMs);
  if (res.destroyed) return;
  const effect = fault?.effect;
  if (effect?.kind === 'reset') return void req.socket.destroy();
  if (effect?.kind === 'answer') return answer(res, effect);
  if (kubePath.test(url.pathname)) {
    return parts.kube.handle(req, res, body, effect?.kind === 'dropWatch' ? { dropWatchAfterMs: effect.afterMs } : {});
  }
  if (!(await parts.aws.handle(req, res, body)))
    sendJson(res, 404, { message: `nothing is simulated at ${req.method} ${url.pathname}` });
}

async function serveUpgrade(parts: Parts, req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://sim');
  record(parts.log, req, url, Buffer.alloc(0), parts.clock);
  const fault = parts.faults.take(req.method ?? 'GET', url, false);
  if (fault && fault.delayMs > 0) await hold(once(socket, 'close'), fault.delayMs);
  if (socket.destroyed) return;
  if (fault?.effect.kind === 'reset') return void socket.destroy();
  if (fault?.effect.kind === 'answer') return answerUpgrade(socket, fault.effect);
  if (kubePath.test(url.pathname)) return parts.kube.upgrade(req, socket, head);
  socket.destroy();
}

/**
 * The attach/detach controller: a gone pod's EBS volumes are detached. For a pod on a lost node
 * the detach waits until the node is back, as the volume stays attached to an instance nobody can
 * reach (a real controller force-detaches after six minutes; the simulator waits for restoreNode).
 */
function detachVolumesOnPodGone(kube: KubeScenario, aws: AwsSim): void {
  const waiting = new Map<string, string[]>();
  const detach = (ids: string[]) => {
    for (const id of ids) if (aws.volume(id)?.attachedTo !== undefined) aws.detachVolume(id);
  };
  kube.onPodGone((pod) => {
    const volumes = (pod.spec.volumes ?? []) as { awsElasticBlockStore?: { volumeID?: string } }[];
    const ids = volumes.flatMap((volume) =>
      volume.awsElasticBlockStore?.volumeID ? [volume.awsElasticBlockStore.volumeID] : [],
    );
    const node = pod.spec.nodeName;
    if (node !== undefined && kube.lostNodes().includes(node))
      waiting.set(node, [...(waiting.get(node) ?? []), ...ids]);
    else detach(ids);
  });
  kube.onNodeRestored((node) => {
    detach(waiting.get(node) ?? []);
    waiting.delete(node);
  });
}

function internalError(res: http.ServerResponse, err: unknown): void {
  if (res.headersSent) return void res.destroy();
  sendJson(res, 500, statusBody(500, `simulator failure: ${err instanceof Error ? err.message : String(err)}`));
}

function listen(server: http.Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server.address() as AddressInfo));
  });
}

export async function startSim(options: SimOptions = {}): Promise<Sim> {
  const clock = options.clock ?? systemClock;
  const parts: Parts = {
    clock,
    kube: createKubeSim({ clock, token }),
    aws: createAwsSim({ clock }),
    faults: new Faults(seededRandom(options.faultSeed ?? 1), () => clock.now()),
    log: [],
  };
  detachVolumesOnPodGone(parts.kube.scenario, parts.aws);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on(
      'end',
      () => void serve(parts, req, res, Buffer.concat(chunks)).catch((err: unknown) => internalError(res, err)),
    );
  });
  // Upgraded sockets are not the HTTP server's to close, and a paused one never notices its client
  // leaving, so close() ends them itself.
  const upgraded = new Set<Duplex>();
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined); // a client that vanishes mid-upgrade is not the simulator's failure
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
    void serveUpgrade(parts, req, socket, head).catch(() => socket.destroy());
  });
  const address = await listen(server, options.port ?? 0, options.host ?? '127.0.0.1');
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  return {
    url,
    token,
    kube: parts.kube.scenario,
    aws: parts.aws,
    faults: parts.faults,
    requests: { all: () => [...parts.log], clear: () => void (parts.log.length = 0) },
    kubeConfig: () => simKubeConfig(url, token),
    kubeconfigYaml: () => simKubeconfigYaml(url, token),
    close: async () => {
      parts.kube.close();
      for (const socket of upgraded) socket.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

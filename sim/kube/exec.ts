/*
 * Pod exec over WebSocket, as the API server and kubelet serve it: the upgrade is refused with an
 * HTTP Status (404 missing pod, 400 bad container, pod not running, no command, no usable
 * subprotocol); otherwise `v5.channel.k8s.io` (preferred) or `v4.channel.k8s.io` is negotiated,
 * stdin is read from channel 0 until the v5 close frame [255, 0], the command runs against the
 * container's in-memory filesystem, and the answer is binary frames on channels 1 and 2 then a
 * JSON Status on channel 3 and a normal close. Nothing else is ever sent: the client treats other
 * channels and non-JSON statuses as fatal (see the test-harness notes).
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import type { Clock } from '../../shared/clock.js';
import type { Pod } from './pod-status.js';
import type { Pods } from './pods.js';
import { appendBounded } from './bounded.js';
import { runInContainer } from './shell.js';
import type { ShellResult } from './shell.js';
import { KubeApiError, badRequest } from './status.js';
import type { StatusBody } from './status.js';

export interface ExecRecord {
  namespace: string;
  pod: string;
  container: string;
  argv: string[];
  /** What arrived on stdin, as UTF-8; absent when the request had no stdin. */
  stdin?: string;
  exitCode: number;
  protocol: string;
  at: Date;
}

interface ExecRequest {
  pod: Pod;
  container: string;
  argv: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

export type ExecProtocol = 'v5.channel.k8s.io' | 'v4.channel.k8s.io';

function offeredProtocols(req: http.IncomingMessage): string[] {
  return (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
}

function pickContainer(pod: Pod, requested: string | null): string {
  const names = pod.spec.containers.map((c) => c.name);
  if (requested === null || requested === '') {
    if (names.length === 1) return names[0]!;
    throw badRequest(`a container name must be specified for pod ${pod.metadata.name}, choose one of: [${names.join(' ')}]`);
  }
  if (!names.includes(requested)) throw badRequest(`container ${requested} is not valid for pod ${pod.metadata.name}`);
  return requested;
}

function checkRunnable(pod: Pod, container: string): void {
  const phase = pod.status.phase;
  if (phase === 'Succeeded' || phase === 'Failed') {
    throw badRequest(`cannot exec into a container in a completed pod; current phase is ${phase}`);
  }
  const status = pod.status.containerStatuses.find((c) => c.name === container);
  if (phase !== 'Running' || !status?.state.running) throw badRequest(`container not found ("${container}")`);
}

function parseExec(pod: Pod, query: URLSearchParams, req: http.IncomingMessage, supported: readonly ExecProtocol[]): ExecRequest {
  const container = pickContainer(pod, query.get('container'));
  checkRunnable(pod, container);
  const argv = query.getAll('command');
  if (argv.length === 0) throw badRequest('you must specify at least 1 command');
  if (!offeredProtocols(req).some((p) => (supported as readonly string[]).includes(p))) {
    throw badRequest(`unable to upgrade connection: none of the offered subprotocols is supported (want one of ${supported.join(', ')})`);
  }
  const flag = (name: string) => query.get(name) === 'true' || query.get(name) === '1';
  return { pod, container, argv, stdin: flag('stdin'), stdout: flag('stdout'), stderr: flag('stderr') };
}

export function refuseUpgrade(socket: Duplex, status: StatusBody): void {
  const body = JSON.stringify(status);
  const head = [`HTTP/1.1 ${status.code} ${status.reason}`, 'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close'];
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}

function statusFrame(result: ShellResult, argv: string[]): object {
  if (result.exitCode === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${argv.join(' ')}], exit code ${result.exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(result.exitCode) }] },
  };
}

function frame(channel: number, data: Buffer | string): Buffer {
  return Buffer.concat([Buffer.from([channel]), Buffer.from(data)]);
}

export class ExecServer {
  readonly records: ExecRecord[] = [];
  /** In order of preference; only v4 imitates an API server older than Kubernetes 1.30. */
  protocols: readonly ExecProtocol[] = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
  private readonly wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => this.protocols.find((p) => offered.has(p)) ?? false,
  });

  constructor(private readonly pods: Pods, private readonly clock: Clock) {}

  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, pod: Pod, query: URLSearchParams): void {
    let request: ExecRequest;
    try {
      request = parseExec(pod, query, req, this.protocols);
    } catch (err) {
      if (!(err instanceof KubeApiError)) throw err;
      refuseUpgrade(socket, err.status);
      return;
    }
    // The API server takes exec as GET or POST; the ws library insists on GET, as RFC 6455 does.
    req.method = 'GET';
    this.wss.handleUpgrade(req, socket, head, (ws) => this.session(ws, request));
  }

  close(): void {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
  }

  private session(ws: WebSocket, request: ExecRequest): void {
    if (!request.stdin) {
      this.run(ws, request, undefined);
      return;
    }
    const input: Buffer[] = [];
    ws.on('message', (data: Buffer, isBinary) => {
      if (!isBinary || data.length === 0) return;
      if (data[0] === 0) input.push(data.subarray(1));
      if (data[0] === 255 && data[1] === 0) this.run(ws, request, Buffer.concat(input));
    });
  }

  private run(ws: WebSocket, request: ExecRequest, stdin: Buffer | undefined): void {
    const { pod, container, argv } = request;
    const fs = this.pods.filesystem(pod, container);
    const ref = { namespace: pod.metadata.namespace!, pod: pod.metadata.name, container };
    const result = runInContainer(argv, stdin, fs, (message) => appendBounded(this.pods.broadcasts, { ...ref, message, at: this.clock.now() }));
    appendBounded(this.records, { ...ref, argv, ...(stdin && { stdin: stdin.toString('utf8') }), exitCode: result.exitCode, protocol: ws.protocol, at: this.clock.now() });
    if (request.stdout && result.stdout.length > 0) ws.send(frame(1, result.stdout));
    if (request.stderr && result.stderr.length > 0) ws.send(frame(2, result.stderr));
    ws.send(frame(3, JSON.stringify(statusFrame(result, argv))));
    ws.close(1000);
  }
}

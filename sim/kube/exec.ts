/*
 * Pod exec over WebSocket, as the API server and kubelet serve it. What the API server checks
 * itself is refused with an HTTP Status on the upgrade (404 missing pod, 400 bad container,
 * completed pod, no command, no usable subprotocol). What the kubelet refuses (a container that is
 * not running, a node that does not answer, a missing binary) reaches a v5 client, as on a 1.30+
 * server whose stream translator proxies to the kubelet, as an `InternalError` Status on the error
 * channel after the upgrade; a v4 client (no translator) gets it as a refused upgrade.
 *
 * After the upgrade the server sends an empty frame on the lowest writable channel
 * (apiserver/pkg/util/proxy/websocket.go). stdin arrives on channel 0, in binary or text frames,
 * until the v5 close frame [255, 0] or the socket closes; a command that never reads stdin runs at
 * once. A command whose client went away still runs to the end of its input, as a kubelet's does.
 * The answer is frames on channels 1 and 2, then a JSON Status on channel 3 and a normal close.
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import type { Clock } from '../../shared/clock.js';
import type { Pod } from './pod-status.js';
import type { Pods } from './pods.js';
import { appendBounded } from './bounded.js';
import { hasProgram, readsStdin, runInContainer } from './shell.js';
import type { ShellResult } from './shell.js';
import { KubeApiError, badRequest, statusBody } from './status.js';
import { queryFlag } from './query.js';
import type { StatusBody } from './status.js';

export interface ExecRecord {
  namespace: string;
  pod: string;
  container: string;
  argv: string[];
  /** What arrived on stdin, as UTF-8; absent when the request had no stdin. */
  stdin?: string;
  /** -1 when the kubelet refused to run it (see `refused`). */
  exitCode: number;
  protocol: string;
  at: Date;
  /** The InternalError message when the command never ran. */
  refused?: string;
}

interface ExecRequest {
  pod: Pod;
  container: string;
  argv: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  /** Why the kubelet cannot run it (v5: an InternalError on the error channel after the upgrade). */
  kubeletRefusal?: string;
}

export type ExecProtocol = 'v5.channel.k8s.io' | 'v4.channel.k8s.io';

function offeredProtocols(req: http.IncomingMessage): string[] {
  return (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
}

function pickContainer(pod: Pod, requested: string | null): string {
  const names = pod.spec.containers.map((c) => c.name);
  if (requested === null || requested === '') {
    if (names.length === 1) return names[0]!;
    throw badRequest(
      `a container name must be specified for pod ${pod.metadata.name}, choose one of: [${names.join(' ')}]`,
    );
  }
  if (!names.includes(requested)) throw badRequest(`container ${requested} is not valid for pod ${pod.metadata.name}`);
  return requested;
}

function checkNotCompleted(pod: Pod): void {
  const phase = pod.status.phase;
  if (phase === 'Succeeded' || phase === 'Failed') {
    throw badRequest(`cannot exec into a container in a completed pod; current phase is ${phase}`);
  }
}

/** What the kubelet answers when it cannot run the command, or undefined when it can. */
function kubeletRefusal(pod: Pod, container: string, argv: string[], nodeLost: boolean): string | undefined {
  if (nodeLost) return `error dialing backend: dial tcp ${pod.status.hostIP ?? '10.0.0.1'}:10250: i/o timeout`;
  const status = pod.status.containerStatuses.find((c) => c.name === container);
  if (pod.status.phase !== 'Running' || !status?.state.running)
    return `unable to upgrade connection: container not found ("${container}")`;
  if (!hasProgram(argv)) {
    return `error executing command in container: failed to exec in container: failed to start exec: OCI runtime exec failed: exec failed: unable to start container process: exec: "${argv[0]}": executable file not found in $PATH: unknown`;
  }
  return undefined;
}

function parseExec(
  pod: Pod,
  query: URLSearchParams,
  req: http.IncomingMessage,
  supported: readonly ExecProtocol[],
  nodeLost: boolean,
): ExecRequest {
  const container = pickContainer(pod, query.get('container'));
  checkNotCompleted(pod);
  const argv = query.getAll('command');
  if (argv.length === 0) throw badRequest('you must specify at least 1 command');
  const protocol = supported.find((p) => offeredProtocols(req).includes(p));
  if (!protocol) {
    throw badRequest(
      `unable to upgrade connection: none of the offered subprotocols is supported (want one of ${supported.join(', ')})`,
    );
  }
  const refusal = kubeletRefusal(pod, container, argv, nodeLost);
  // Without the 1.30 stream translator (v4), the kubelet's refusal comes back on the upgrade.
  if (refusal !== undefined && protocol !== 'v5.channel.k8s.io') {
    throw nodeLost
      ? new KubeApiError(internalError(refusal))
      : badRequest(refusal.replace('unable to upgrade connection: ', ''));
  }
  const flag = (name: string) => queryFlag(query, name);
  return {
    pod,
    container,
    argv,
    stdin: flag('stdin'),
    stdout: flag('stdout'),
    stderr: flag('stderr'),
    ...(refusal !== undefined && { kubeletRefusal: refusal }),
  };
}

/** apimachinery's errors.NewInternalError as a Status. */
function internalError(message: string): StatusBody {
  return statusBody(500, `Internal error occurred: ${message}`, 'InternalError', { causes: [{ message }] });
}

export function refuseUpgrade(socket: Duplex, status: StatusBody): void {
  const body = JSON.stringify(status);
  const head = [
    `HTTP/1.1 ${status.code} ${status.reason}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
  ];
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

  constructor(
    private readonly pods: Pods,
    private readonly clock: Clock,
  ) {}

  upgrade(
    req: http.IncomingMessage,
    socket: Duplex,
    head: Buffer,
    pod: Pod,
    query: URLSearchParams,
    nodeLost = false,
  ): void {
    let request: ExecRequest;
    try {
      request = parseExec(pod, query, req, this.protocols, nodeLost);
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
    const lowestWritable = request.stdout ? 1 : request.stderr ? 2 : 3;
    ws.send(frame(lowestWritable, ''));
    if (request.kubeletRefusal !== undefined) return this.refuse(ws, request, request.kubeletRefusal);
    const fs = this.pods.filesystem(request.pod, request.container);
    if (!request.stdin || !readsStdin(request.argv, fs)) return this.run(ws, request, undefined);
    const input: Buffer[] = [];
    let started = false;
    const start = () => {
      if (started) return;
      started = true;
      this.run(ws, request, Buffer.concat(input));
    };
    ws.on('message', (data: Buffer) => {
      // Binary or text frames alike: the first byte is the channel (wsstream reads both).
      if (data.length === 0 || started) return;
      if (data[0] === 0) input.push(data.subarray(1));
      if (data[0] === 255 && data[1] === 0) start();
    });
    ws.on('close', start); // the client went away: the command still runs to the end of its input
  }

  private refuse(ws: WebSocket, request: ExecRequest, message: string): void {
    const { pod, container, argv } = request;
    appendBounded(this.records, {
      namespace: pod.metadata.namespace!,
      pod: pod.metadata.name,
      container,
      argv,
      exitCode: -1,
      protocol: ws.protocol,
      at: this.clock.now(),
      refused: message,
    });
    ws.send(frame(3, JSON.stringify(internalError(message))));
    ws.close(1000);
  }

  private run(ws: WebSocket, request: ExecRequest, stdin: Buffer | undefined): void {
    const { pod, container, argv } = request;
    const fs = this.pods.filesystem(pod, container);
    const ref = { namespace: pod.metadata.namespace!, pod: pod.metadata.name, container };
    const result = runInContainer(argv, stdin, fs, (message) =>
      appendBounded(this.pods.broadcasts, { ...ref, message, at: this.clock.now() }),
    );
    appendBounded(this.records, {
      ...ref,
      argv,
      ...(stdin && { stdin: stdin.toString('utf8') }),
      exitCode: result.exitCode,
      protocol: ws.protocol,
      at: this.clock.now(),
    });
    if (ws.readyState !== ws.OPEN) return;
    if (request.stdout && result.stdout.length > 0) ws.send(frame(1, result.stdout));
    if (request.stderr && result.stderr.length > 0) ws.send(frame(2, result.stderr));
    ws.send(frame(3, JSON.stringify(statusFrame(result, argv))));
    ws.close(1000);
  }
}

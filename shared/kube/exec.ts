/*
 * Run a fixed argv in a container and get { stdout, stderr, exitCode }, resolved when the status
 * frame arrives (not when the socket opens, which is all the client's own promise means).
 *
 * The client's Exec builds the request and feeds stdin; the WebSocket beneath it is ours, because
 * the client's default one has crash hazards (test-harness notes §1): an unknown channel or an
 * unparseable status throws inside a ws listener and kills the process, a server close frame ends
 * process.stdout, and an HTTP refusal of the upgrade loses its Status body. Here every frame is
 * handled inside a try, channel 255 is ignored, the refusal is read and translated (a missing pod
 * is NotFound), only v5/v4 are offered, and stdin is refused on v4, which cannot signal its end.
 */
import { Readable, Writable } from 'node:stream';
import { Exec } from '@kubernetes/client-node';
import type { KubeConfig, V1Status } from '@kubernetes/client-node';
import WebSocket from 'ws';
import type { AppError } from '../errors.js';
import { Fatal, Transient } from '../errors.js';
import type { ExecResult } from './pods.js';
import { fromHttpFailure, translateKubeError } from './errors.js';

export interface ExecTarget {
  namespace: string;
  pod: string;
  container: string;
}

// The client does not export this interface by name; Exec's constructor is where it is used.
type WebSocketInterface = NonNullable<ConstructorParameters<typeof Exec>[1]>;

const v5 = 'v5.channel.k8s.io';

function collector(): { stream: Writable; text(): string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(Buffer.from(chunk));
      done();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

function exitCodeOf(status: V1Status, action: string): number {
  if (status.status === 'Success') return 0;
  const code = Number(status.details?.causes?.find((cause) => cause.reason === 'ExitCode')?.message);
  if (status.reason === 'NonZeroExitCode' && Number.isInteger(code)) return code;
  throw new Transient(
    `${action}: the command did not run: ${status.reason ?? 'Failure'}: ${(status.message ?? '').slice(0, 300)}`,
  );
}

/** The socket under the client's Exec, with the hazards handled; `fail` reports trouble after open. */
class GuardedSocket implements WebSocketInterface {
  private socket: WebSocket | undefined;

  constructor(
    private readonly kc: KubeConfig,
    private readonly target: ExecTarget,
    private readonly action: string,
    private readonly withStdin: boolean,
    private readonly fail: (err: AppError) => void,
  ) {}

  async connect(
    path: string,
    _text: unknown,
    binaryHandler: ((stream: number, buff: Buffer) => boolean) | null,
  ): Promise<WebSocket> {
    const server = this.kc.getCurrentCluster()?.server;
    if (!server) throw new Fatal(`${this.action}: no current cluster`);
    const options: WebSocket.ClientOptions = {};
    await this.kc.applyToHTTPSOptions(options);
    const ws = new WebSocket(`${server.replace(/^http/, 'ws')}${path}`, [v5, 'v4.channel.k8s.io'], options);
    this.socket = ws;
    return new Promise<WebSocket>((resolve, reject) => {
      let opened = false;
      const trouble = (err: AppError) => (opened ? this.fail(err) : reject(err));
      ws.on('unexpected-response', (_req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const retryAfter = res.headers['retry-after'];
          const failure = {
            code: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            ...(retryAfter !== undefined && { retryAfter }),
          };
          reject(
            fromHttpFailure(
              failure,
              this.action,
              new Error(`exec upgrade refused with HTTP ${failure.code}`),
              this.target.pod,
            ),
          );
          ws.terminate();
        });
      });
      ws.on('open', () => {
        if (this.withStdin && ws.protocol !== v5) {
          ws.terminate();
          reject(
            new Fatal(
              `${this.action}: the API server offered ${ws.protocol}, which cannot end stdin; exec with stdin needs ${v5} (Kubernetes 1.30 or later)`,
            ),
          );
          return;
        }
        opened = true;
        resolve(ws);
      });
      ws.on('error', (err) => trouble(translateKubeError(err, this.action)));
      ws.on('message', (data: Buffer, isBinary) => {
        if (!isBinary || data.length === 0 || data[0] === 255) return;
        try {
          if (binaryHandler && !binaryHandler(data[0]!, data.subarray(1))) ws.close();
        } catch (err) {
          ws.terminate();
          this.fail(new Transient(`${this.action}: unreadable frame on channel ${data[0]}`, undefined, { cause: err }));
        }
      });
      // Before open, a failed handshake has already rejected through 'error' or the refusal above.
      ws.on(
        'close',
        (code) =>
          opened &&
          this.fail(new Transient(`${this.action}: the stream closed (${code}) before the command's status arrived`)),
      );
    });
  }

  /** Ends the exchange: a clean close once the status is in, else at once, even mid-handshake. */
  finish(completed: boolean): void {
    if (!this.socket || this.socket.readyState === WebSocket.CLOSED) return;
    if (completed) this.socket.close();
    else this.socket.terminate();
  }
}

/**
 * @throws NotFound when the pod does not exist; Invalid when it cannot be exec'd into (not
 *   running, unknown container); Transient on timeouts and connection trouble.
 */
export function execInPod(
  kc: KubeConfig,
  target: ExecTarget,
  argv: readonly string[],
  stdin: string | undefined,
  timeoutMs: number,
): Promise<ExecResult> {
  const action = `exec in pod ${target.namespace}/${target.pod} (${target.container})`;
  return new Promise<ExecResult>((resolve, reject) => {
    let settled = false;
    const settle = (completed: boolean, outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outcome();
      socket.finish(completed);
    };
    const timer = setTimeout(
      () => settle(false, () => reject(new Transient(`${action}: no status within ${timeoutMs} ms`))),
      timeoutMs,
    );
    const fail = (err: AppError) => settle(false, () => reject(err));
    const socket = new GuardedSocket(kc, target, action, stdin !== undefined, fail);
    const stdout = collector();
    const stderr = collector();
    const input = stdin === undefined ? null : Readable.from([Buffer.from(stdin, 'utf8')]);
    const onStatus = (status: V1Status) =>
      settle(true, () => {
        try {
          resolve({ stdout: stdout.text(), stderr: stderr.text(), exitCode: exitCodeOf(status, action) });
        } catch (err) {
          reject(err);
        }
      });
    new Exec(kc, socket)
      .exec(
        target.namespace,
        target.pod,
        target.container,
        [...argv],
        stdout.stream,
        stderr.stream,
        input,
        false,
        onStatus,
      )
      .then(
        () => settled && socket.finish(false),
        (err: unknown) => fail(translateKubeError(err, action, target.pod)),
      );
  });
}

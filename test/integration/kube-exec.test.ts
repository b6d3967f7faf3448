/*
 * Exec through the real client: the warning delivery's fixed argv with content on stdin, non-zero
 * exits, v4 servers, refusals translated, timeouts, and a hostile server that would crash a
 * process using the client's default socket handling.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { deliverWarning } from '../../functions/warn/deliver.js';
import { Fatal, Invalid, NotFound, Transient } from '../../shared/errors.js';
import { createKube } from '../../shared/kube/index.js';
import type { Kube } from '../../shared/kube/index.js';
import type { PodExec } from '../../shared/kube/pods.js';
import { startSim } from '../../sim/server.js';
import type { Sim } from '../../sim/server.js';

let sim: Sim;
let kube: Kube;
const namespace = 'exec';
let serial = 0;
// A fresh pod per test, so exec records and broadcasts of earlier tests never count.
let pod: { namespace: string; name: string };
let target: { namespace: string; pod: string; container: string };
// The argv warn's delivery uses (functions/warn/deliver.ts): the file name is $1, the text is stdin.
const replaceWarning = ['sh', '-c', 'rm -f /home/dev/WARN_EXPIRES_IN_*MIN.txt && cat > "$1"', 'sh'];

beforeAll(async () => {
  sim = await startSim();
  kube = createKube({ server: sim.url, token: sim.token, requestTimeoutMs: 1_000, execTimeoutMs: 500 });
});
afterAll(() => sim.close());
beforeEach(() => {
  serial += 1;
  pod = { namespace, name: `dev-${serial}` };
  target = { namespace, pod: pod.name, container: 'gpu-dev' };
  sim.kube.addPod({ ...pod, containers: ['gpu-dev', 'sidecar'] });
});
afterEach(() => {
  sim.faults.clear();
  sim.kube.setExecProtocols(['v5.channel.k8s.io', 'v4.channel.k8s.io']);
  sim.kube.deleteBehindOurBack(pod);
});

describe('exec with stdin (v5)', () => {
  it('replaces the warning file with what was sent on stdin', async () => {
    sim.kube.writeFile(pod, '/home/dev/WARN_EXPIRES_IN_30MIN.txt', 'old');
    sim.kube.writeFile(pod, '/home/dev/notes.txt', 'keep me');
    const text = 'Your reservation expires in 15 minutes.\n"quotes" $HOME `ticks` stay literal\n';
    const result = await kube.exec(target, [...replaceWarning, '/home/dev/WARN_EXPIRES_IN_15MIN.txt'], text);
    expect(result).toEqual({ stdout: '', stderr: '', exitCode: 0 });
    expect(sim.kube.listFiles(pod, '/home/dev')).toEqual(['WARN_EXPIRES_IN_15MIN.txt', 'notes.txt']);
    expect(sim.kube.readFile(pod, '/home/dev/WARN_EXPIRES_IN_15MIN.txt')).toBe(text);
    const [record] = sim.kube.execs(pod);
    expect(record).toMatchObject({ container: 'gpu-dev', stdin: text, exitCode: 0, protocol: 'v5.channel.k8s.io' });
  });

  it("carries warn's real delivery: the file replaced and the broadcast sent", async () => {
    sim.kube.writeFile(pod, '/home/dev/WARN_EXPIRES_IN_30MIN.txt', 'old');
    const exec: PodExec = kube;
    const expiresAt = new Date('2026-03-01T12:15:00Z');
    const action = {
      kind: 'warn' as const,
      reservationId: 'r-1',
      podName: pod.name,
      namespace,
      expiresAt,
      levelMinutes: 15,
      minutesLeft: 15,
      reason: 'test',
    };
    expect(await deliverWarning(exec, 'gpu-dev', action, new Date('2026-03-01T12:00:00Z'))).toEqual({
      delivered: true,
      broadcast: true,
    });
    expect(sim.kube.listFiles(pod, '/home/dev')).toEqual(['WARN_EXPIRES_IN_15MIN.txt']);
    expect(sim.kube.readFile(pod, '/home/dev/WARN_EXPIRES_IN_15MIN.txt')).toContain('gpu-dev extend r-1');
    expect(sim.kube.broadcasts(pod)).toHaveLength(1);
  });

  it('broadcasts with wall, recorded per pod', async () => {
    expect((await kube.exec(target, ['wall'], 'save your work\n')).exitCode).toBe(0);
    expect(sim.kube.broadcasts(pod).map((b) => b.message)).toEqual(['save your work\n']);
  });

  it("keeps each container's files apart", async () => {
    await kube.exec({ ...target, container: 'sidecar' }, ['sh', '-c', 'cat > "$1"', 'sh', '/tmp/x'], 'side');
    expect(sim.kube.readFile(pod, '/tmp/x', 'sidecar')).toBe('side');
    expect(sim.kube.readFile(pod, '/tmp/x', 'gpu-dev')).toBeUndefined();
  });
});

describe('exit codes and output', () => {
  it('reports a missing file as exit 1 with the message on stderr', async () => {
    expect(await kube.exec(target, ['cat', '/home/dev/OOM_DETECTED.txt'])).toEqual({
      stdout: '',
      stderr: 'cat: /home/dev/OOM_DETECTED.txt: No such file or directory\n',
      exitCode: 1,
    });
  });

  it("passes the shell's exit status through, 127 for an unknown program under sh, and a missing binary as an error status", async () => {
    expect((await kube.exec(target, ['sh', '-c', 'exit 3'])).exitCode).toBe(3);
    expect(await kube.exec(target, ['sh', '-c', 'notify-send hi'])).toMatchObject({ exitCode: 127 });
    // exec'd directly, the runtime fails before anything runs: an InternalError status, not an exit code
    await expect(kube.exec(target, ['notify-send', 'hi'])).rejects.toThrow(/executable file not found/);
  });

  it('returns stdout', async () => {
    sim.kube.writeFile(pod, '/home/dev/a.txt', 'A');
    expect(await kube.exec(target, ['ls', '/home/dev'])).toMatchObject({ stdout: 'a.txt\n', exitCode: 0 });
    expect(await kube.exec(target, ['cat', '/home/dev/a.txt'])).toMatchObject({ stdout: 'A', exitCode: 0 });
  });
});

describe('a server that speaks only v4 (Kubernetes < 1.30)', () => {
  beforeEach(() => sim.kube.setExecProtocols(['v4.channel.k8s.io']));

  it('runs a command without stdin and reports its status', async () => {
    expect(await kube.exec(target, ['sh', '-c', 'exit 2'])).toMatchObject({ exitCode: 2 });
    expect(sim.kube.execs(pod)[0]?.protocol).toBe('v4.channel.k8s.io');
  });

  it('refuses stdin at once instead of hanging, since v4 cannot end it', async () => {
    const started = performance.now();
    await expect(kube.exec(target, ['wall'], 'x')).rejects.toThrow(Fatal);
    expect(performance.now() - started).toBeLessThan(400);
    expect(sim.kube.broadcasts(pod)).toEqual([]);
  });
});

describe('refusals and failures', () => {
  it('a missing pod is NotFound', async () => {
    await expect(kube.exec({ ...target, pod: 'gone' }, ['true'])).rejects.toThrow(NotFound);
  });

  it('a pod that is not running, or an unknown container, is Invalid', async () => {
    await expect(kube.exec({ ...target, container: 'nope' }, ['true'])).rejects.toThrow(/container nope is not valid/);
    sim.kube.evict(pod);
    const err: unknown = await kube.exec(target, ['true']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Invalid);
    expect((err as Error).message).toMatch(/cannot exec into a container in a completed pod; current phase is Failed/);
  });

  it('a server that does not answer in time is Transient', async () => {
    sim.faults.add({ path: `/api/v1/namespaces/${namespace}/pods/${pod.name}/exec`, delayMs: 2_000, count: 1 });
    await expect(kube.exec(target, ['true'])).rejects.toThrow(/no status within 500 ms/);
  });

  it('a 503 on the upgrade is Transient, and a 429 carries its Retry-After', async () => {
    sim.faults.add({ path: `/api/v1/namespaces/${namespace}/pods/${pod.name}/exec`, status: 503, count: 1 });
    await expect(kube.exec(target, ['true'])).rejects.toThrow(Transient);
    sim.faults.add({
      path: `/api/v1/namespaces/${namespace}/pods/${pod.name}/exec`,
      status: 429,
      retryAfterSeconds: 5,
      count: 1,
    });
    const throttled: unknown = await kube.exec(target, ['true']).catch((e: unknown) => e);
    expect(throttled).toBeInstanceOf(Transient);
    expect((throttled as Transient).retryAfterMs).toBe(5_000);
  });
});

describe('a hostile exec server', () => {
  let server: http.Server;
  let url: string;
  let frames: Buffer[];

  beforeAll(async () => {
    server = http.createServer();
    const wss = new WebSocketServer({ server, handleProtocols: () => 'v5.channel.k8s.io' });
    wss.on('connection', (ws) => {
      for (const frame of frames) ws.send(frame);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const execAgainst = () =>
    createKube({ server: url, token: 't', requestTimeoutMs: 500, execTimeoutMs: 500 }).exec(target, ['true']);

  it("ignores a server close frame, which would end process.stdout with the client's default handler", async () => {
    frames = [
      Buffer.from([255, 1]),
      Buffer.from([1, 111, 107]),
      Buffer.concat([Buffer.from([3]), Buffer.from('{"metadata":{},"status":"Success"}')]),
    ];
    expect(await execAgainst()).toEqual({ stdout: 'ok', stderr: '', exitCode: 0 });
  });

  it('turns an unknown channel or an unparseable status into a Transient, not an uncaught exception', async () => {
    frames = [Buffer.from([7, 1, 2])];
    await expect(execAgainst()).rejects.toThrow(/unreadable frame on channel 7/);
    frames = [Buffer.concat([Buffer.from([3]), Buffer.from('not json')])];
    await expect(execAgainst()).rejects.toThrow(/unreadable frame on channel 3/);
  });

  it('a stream that closes without a status is Transient, not a hang', async () => {
    frames = [];
    server.once('upgrade', (_req, socket) => setTimeout(() => socket.destroy(), 20));
    await expect(execAgainst()).rejects.toThrow(/closed \(\d+\) before the command's status arrived/);
  });
});

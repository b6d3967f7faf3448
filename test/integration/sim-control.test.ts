/*
 * The control API of a running simulator (/_sim/) and the CLI over it: what a person rehearsing
 * an outage against the local stack drives from a shell.
 */
import path from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { createKube } from '../../shared/kube/index.js';
import { isLoopback } from '../../sim/control.js';
import { callFor, simUrl } from '../../sim/control-cli.js';
import { startSim } from '../../sim/server.js';
import type { Sim } from '../../sim/server.js';
import { runTracked } from '../support/processes.js';

const root = path.resolve(import.meta.dirname, '../..');
const clock = new ManualClock('2026-03-01T12:00:00Z');
let sim: Sim;
let core: CoreV1Api;

beforeAll(async () => {
  sim = await startSim({ clock });
  core = sim.kubeConfig().makeApiClient(CoreV1Api);
});
afterAll(() => sim.close());
beforeEach(async () => {
  await control('POST', 'reset');
});

async function control(method: string, route: string, body?: object): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${sim.url}/_sim/${route}`, {
    method,
    ...(body && { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  return { status: res.status, json: await res.json() };
}

describe('faults', () => {
  it('"the API server fails for ten minutes": every Kubernetes call is a 503 until the clock passes, control calls still work', async () => {
    const added = await control('POST', 'faults', {
      pathRegex: '^/(api|apis)(/|\\?|$)',
      status: 503,
      forSeconds: 600,
      label: 'apiserver-down',
    });
    expect(added.status).toBe(200);
    const failed = await core.listNamespacedPod({ namespace: 'default' }).then(
      () => 200,
      (e: { code: number }) => e.code,
    );
    expect(failed).toBe(503);
    expect((await control('GET', 'state')).status).toBe(200); // the control API is never faulted
    expect(await control('GET', 'faults')).toMatchObject({
      json: {
        active: [{ label: 'apiserver-down', path: '/^\\/(api|apis)(\\/|\\?|$)/' }],
        fired: { 'apiserver-down': 1 },
      },
    });
    clock.advanceSeconds(600);
    await expect(core.listNamespacedPod({ namespace: 'default' })).resolves.toMatchObject({ kind: 'PodList' });
    expect((await control('GET', 'faults')).json).toMatchObject({ active: [] });
  });

  it('clears route faults by label, and per-action AWS faults', async () => {
    await control('POST', 'faults', { path: '/api/v1/namespaces/default/pods', status: 500, label: 'a' });
    await control('POST', 'faults', { path: '/api/v1/namespaces/default/pods', reset: true, label: 'b' });
    await control('DELETE', 'faults?label=a');
    expect((await control('GET', 'faults')).json).toMatchObject({ active: [{ label: 'b' }] });
    await control('POST', 'aws-faults', { service: 'ec2', action: 'DeleteVolume', fault: { kind: 'throttle' } });
    await control('DELETE', 'aws-faults');
  });

  it('refuses a rule without an effect, or with a bad body', async () => {
    expect(await control('POST', 'faults', { path: '/api' })).toMatchObject({ status: 400 });
    expect((await fetch(`${sim.url}/_sim/faults`, { method: 'POST', body: 'nope' })).status).toBe(400);
  });
});

describe('scripted pods and nodes', () => {
  it('OOM kill with restart, eviction, deletion behind our back', async () => {
    const a = sim.kube.addPod({ name: 'ctl-a', namespace: 'ctl' });
    const b = sim.kube.addPod({ name: 'ctl-b', namespace: 'ctl' });
    const c = sim.kube.addPod({ name: 'ctl-c', namespace: 'ctl' });
    expect((await control('POST', 'pods/ctl/ctl-a/oom-kill', {})).status).toBe(200);
    expect(sim.kube.pod(a)!.status.containerStatuses[0]).toMatchObject({
      restartCount: 1,
      lastState: { terminated: { reason: 'OOMKilled' } },
    });
    await control('POST', 'pods/ctl/ctl-b/evict');
    expect(sim.kube.pod(b)!.status).toMatchObject({ phase: 'Failed', reason: 'Evicted' });
    await control('POST', 'pods/ctl/ctl-c/delete-behind-our-back');
    expect(sim.kube.pod(c)).toBeUndefined();
    expect(await control('POST', 'pods/ctl/missing/evict')).toMatchObject({ status: 404 });
  });

  it('"a node dies": lose and restore it; reset restores it too', async () => {
    sim.kube.addNode({ name: 'ctl-node' });
    sim.kube.addPod({ name: 'on-node', namespace: 'ctl', nodeName: 'ctl-node' });
    await control('POST', 'nodes/ctl-node/lose');
    expect((await control('GET', 'state')).json).toMatchObject({ lostNodes: ['ctl-node'] });
    const kube = createKube({ server: sim.url, token: sim.token, requestTimeoutMs: 2_000, execTimeoutMs: 3_000 });
    await expect(kube.exec({ namespace: 'ctl', pod: 'on-node', container: 'gpu-dev' }, ['true'])).rejects.toMatchObject(
      { name: 'Transient' },
    );
    expect((await control('POST', 'reset')).json).toEqual({ restoredNodes: ['ctl-node'] });
    expect(sim.kube.lostNodes()).toEqual([]);
  });
});

describe('volumes, snapshots and inspection', () => {
  it('sets volume, attachment and snapshot states', async () => {
    const { volumeId } = sim.aws.addVolume({ sizeGiB: 8 });
    const { snapshotId } = sim.aws.addSnapshot({ volumeId });
    await control('POST', `volumes/${volumeId}/state`, { state: 'deleting' });
    expect(sim.aws.volume(volumeId)?.state).toBe('deleting');
    await control('POST', `volumes/${volumeId}/attachment`, { state: 'detaching' });
    expect(sim.aws.volume(volumeId)?.attachmentState).toBe('detaching');
    await control('POST', `snapshots/${snapshotId}/state`, { state: 'error' });
    expect(sim.aws.snapshot(snapshotId)?.state).toBe('error');
    expect(await control('POST', `volumes/${volumeId}/state`, { state: 'gone' })).toMatchObject({ status: 400 });
    expect(await control('POST', 'volumes/vol-0000000000000dead/state', { state: 'error' })).toMatchObject({
      status: 404,
    });
  });

  it('shows execs, the files written into a pod, and the API calls', async () => {
    sim.kube.addPod({ name: 'files', namespace: 'ctl' });
    const kube = createKube({ server: sim.url, token: sim.token, requestTimeoutMs: 2_000, execTimeoutMs: 3_000 });
    await kube.exec(
      { namespace: 'ctl', pod: 'files', container: 'gpu-dev' },
      ['sh', '-c', 'cat > "$1"', 'sh', '/home/dev/WARN.txt'],
      'expires soon',
    );
    expect((await control('GET', 'execs?namespace=ctl&pod=files')).json).toMatchObject([
      { argv: ['sh', '-c', 'cat > "$1"', 'sh', '/home/dev/WARN.txt'], stdin: 'expires soon', exitCode: 0 },
    ]);
    expect((await control('GET', 'pods/ctl/files/files')).json).toEqual({
      pod: 'ctl/files',
      dir: '/home/dev',
      files: { 'WARN.txt': 'expires soon' },
    });
    const requests = (await control('GET', 'requests?limit=5')).json as { path: string }[];
    expect(requests.at(-1)?.path).toBe('/api/v1/namespaces/ctl/pods/files/exec');
    expect(requests.some((r) => r.path.startsWith('/_sim'))).toBe(false);
  });

  it('lists its endpoints and answers 404 for others', async () => {
    expect((await control('GET', '')).json).toMatchObject({
      endpoints: expect.arrayContaining([expect.stringContaining('/_sim/faults')]),
    });
    expect(await control('GET', 'nothing')).toMatchObject({ status: 404 });
  });
});

describe('the CLI', () => {
  it('only loopback clients are answered', () => {
    expect(isLoopback('127.0.0.1')).toBe(true);
    expect(isLoopback('::ffff:127.0.0.1')).toBe(true);
    expect(isLoopback('::1')).toBe(true);
    expect(isLoopback('10.0.0.5')).toBe(false);
    expect(isLoopback(undefined)).toBe(false);
  });

  it('maps command lines to control calls', () => {
    const v = {} as Parameters<typeof callFor>[1];
    expect(
      callFor(['fault', 'add'], { ...v, 'path-regex': '^/api', status: '503', 'for-seconds': '600' }),
    ).toMatchObject({
      method: 'POST',
      path: 'faults',
      body: { pathRegex: '^/api', status: 503, forSeconds: 600 },
    });
    expect(callFor(['pod', 'oom-kill', 'dev/gpu-1'], v)).toEqual({
      method: 'POST',
      path: 'pods/dev/gpu-1/oom-kill',
      body: { container: undefined },
    });
    expect(callFor(['node', 'lose', 'sim-node-1'], v)).toEqual({ method: 'POST', path: 'nodes/sim-node-1/lose' });
    expect(callFor(['volume', 'state', 'vol-1', 'deleting'], v)).toMatchObject({
      path: 'volumes/vol-1/state',
      body: { state: 'deleting' },
    });
    expect(() => callFor(['pod', 'evict', 'no-namespace'], v)).toThrow(/NAMESPACE\/NAME/);
    expect(() => callFor(['frobnicate'], v)).toThrow(/unknown command/);
    expect(simUrl('http://127.0.0.1:1/', {}, '/nonexistent')).toBe('http://127.0.0.1:1');
    expect(() => simUrl(undefined, {}, '/nonexistent')).toThrow(/npm start/);
  });

  it('npm run sim -- <command> drives a running simulator', async () => {
    const tsx = path.join(root, 'node_modules', '.bin', 'tsx');
    const out = await runTracked(
      tsx,
      [path.join(root, 'sim', 'cli.ts'), 'node', 'lose', 'sim-node-1', '--url', sim.url],
      { cwd: root },
    );
    expect(out).toMatchObject({ code: 0, stdout: expect.stringContaining('ok') });
    expect(sim.kube.lostNodes()).toEqual(['sim-node-1']);
    const refused = await runTracked(
      tsx,
      [path.join(root, 'sim', 'cli.ts'), 'node', 'lose', 'nope', '--url', sim.url],
      { cwd: root },
    );
    expect(refused).toMatchObject({ code: 1, stderr: expect.stringContaining('no node named nope') });
  }, 30_000);
});

/*
 * The simulated API server's own semantics, as the real client sees them: create and its
 * refusals, merge patch, optimistic concurrency, deletecollection, paging tokens, and the watch
 * protocol itself (replay from a version, 410 as an ERROR event, timeoutSeconds with a bookmark).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { CoreV1Api, NetworkingV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { startSim } from '../../sim/server.js';
import type { Sim } from '../../sim/server.js';

let sim: Sim;
let core: CoreV1Api;
let networking: NetworkingV1Api;
const clock = new ManualClock('2026-03-01T12:00:00Z');
let namespace: string;
let serial = 0;

beforeAll(async () => {
  sim = await startSim({ clock });
  core = sim.kubeConfig().makeApiClient(CoreV1Api);
  networking = sim.kubeConfig().makeApiClient(NetworkingV1Api);
});
afterAll(() => sim.close());
beforeEach(() => {
  serial += 1;
  namespace = `api-${serial}`;
  sim.kube.addNamespace(namespace);
});

async function statusOf(
  call: Promise<unknown>,
): Promise<{ code: number; reason?: string; message?: string; details?: object }> {
  const err = (await call.then(
    () => undefined,
    (e: unknown) => e,
  )) as { code: number; body: string } | undefined;
  if (!err) throw new Error('expected the call to fail');
  return JSON.parse(err.body) as { code: number; reason?: string };
}

const podBody = (name: string, labels?: Record<string, string>): V1Pod => ({
  metadata: { name, ...(labels && { labels }) },
  spec: { containers: [{ name: 'main', image: 'busybox' }] },
});

describe('create', () => {
  it('fills in uid, resourceVersion and creationTimestamp, and starts the pod Running', async () => {
    const pod = await core.createNamespacedPod({ namespace, body: podBody('p') });
    expect(pod.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(pod.metadata?.resourceVersion)).toBeGreaterThan(0);
    expect(pod.metadata?.creationTimestamp).toEqual(clock.now());
    expect(pod.status?.phase).toBe('Running');
    expect(pod.spec?.nodeName).toBe('sim-node-1');
  });

  it('refuses a duplicate name with 409 AlreadyExists', async () => {
    await core.createNamespacedPod({ namespace, body: podBody('p') });
    expect(await statusOf(core.createNamespacedPod({ namespace, body: podBody('p') }))).toMatchObject({
      code: 409,
      reason: 'AlreadyExists',
      details: { name: 'p', kind: 'pods' },
    });
  });

  it('refuses a bad name or a pod without containers with 422 Invalid, and a missing namespace with 404', async () => {
    expect(await statusOf(core.createNamespacedPod({ namespace, body: podBody('Not_A_Name') }))).toMatchObject({
      code: 422,
      reason: 'Invalid',
    });
    expect(
      await statusOf(
        core.createNamespacedPod({ namespace, body: { metadata: { name: 'x' }, spec: { containers: [] } } }),
      ),
    ).toMatchObject({
      code: 422,
      reason: 'Invalid',
      message: 'Pod "x" is invalid: spec.containers: Required value',
    });
    expect(await statusOf(core.createNamespacedPod({ namespace: 'nowhere', body: podBody('p') }))).toMatchObject({
      code: 404,
      reason: 'NotFound',
      details: { name: 'nowhere', kind: 'namespaces' },
    });
  });

  it('names an object from generateName', async () => {
    const service = await core.createNamespacedService({
      namespace,
      body: { metadata: { generateName: 'ssh-' }, spec: { ports: [{ port: 22 }] } },
    });
    expect(service.metadata?.name).toMatch(/^ssh-[0-9a-f]{5}$/);
  });
});

describe('update', () => {
  it('merge-patches labels and leaves server-owned fields and the status alone', async () => {
    const created = await core.createNamespacedPod({ namespace, body: podBody('p', { a: '1', b: '2' }) });
    const patched = await core.patchNamespacedPod(
      {
        namespace,
        name: 'p',
        body: { metadata: { labels: { b: null, c: '3' }, uid: 'forged' }, status: { phase: 'Failed' } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(patched.metadata?.labels).toEqual({ a: '1', c: '3' });
    expect(patched.metadata?.uid).toBe(created.metadata?.uid);
    expect(patched.status?.phase).toBe('Running');
    expect(Number(patched.metadata?.resourceVersion)).toBeGreaterThan(Number(created.metadata?.resourceVersion));
  });

  it('refuses a replace from a stale resourceVersion with 409 Conflict', async () => {
    const created = await core.createNamespacedService({
      namespace,
      body: { metadata: { name: 's' }, spec: { ports: [{ port: 22 }] } },
    });
    await core.replaceNamespacedService({
      namespace,
      name: 's',
      body: { ...created, metadata: { ...created.metadata, labels: { v: '2' } } },
    });
    expect(
      await statusOf(
        core.replaceNamespacedService({
          namespace,
          name: 's',
          body: { ...created, metadata: { ...created.metadata, labels: { v: '3' } } },
        }),
      ),
    ).toMatchObject({ code: 409, reason: 'Conflict' });
    expect(sim.kube.list('services', namespace)[0]?.metadata.labels).toEqual({ v: '2' });
  });

  it('refuses a JSON patch it does not implement with 415', async () => {
    await core.createNamespacedPod({ namespace, body: podBody('p') });
    const refused = core.patchNamespacedPod(
      { namespace, name: 'p', body: [{ op: 'add', path: '/metadata/labels', value: {} }] },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
    expect(await statusOf(refused)).toMatchObject({ code: 415 });
  });
});

describe('delete', () => {
  it('deletes a collection of services by label', async () => {
    for (const [name, lab] of [
      ['a', 'l1'],
      ['b', 'l1'],
      ['c', 'l2'],
    ] as const)
      sim.kube.addService({ name, namespace, labels: { lab } });
    await core.deleteCollectionNamespacedService({ namespace, labelSelector: 'lab=l1' });
    expect(sim.kube.list('services', namespace).map((s) => s.metadata.name)).toEqual(['c']);
  });

  it('honours a uid precondition with 409', async () => {
    sim.kube.addPod({ name: 'p', namespace });
    expect(
      await statusOf(
        core.deleteNamespacedPod({ namespace, name: 'p', body: { preconditions: { uid: 'someone-else' } } }),
      ),
    ).toMatchObject({ code: 409, reason: 'Conflict' });
  });

  it('never lengthens a grace period already running', async () => {
    sim.kube.addPod({ name: 'p', namespace });
    await core.deleteNamespacedPod({ namespace, name: 'p', gracePeriodSeconds: 10 });
    const again = await core.deleteNamespacedPod({ namespace, name: 'p', gracePeriodSeconds: 60 });
    expect(again.metadata?.deletionGracePeriodSeconds).toBe(10);
    clock.advanceSeconds(10);
    expect(sim.kube.tick()).toBe(1);
  });

  it('serves ingresses under networking.k8s.io/v1', async () => {
    sim.kube.addIngress({ name: 'i', namespace, host: 'x.example.test' });
    expect((await networking.readNamespacedIngress({ namespace, name: 'i' })).spec?.rules?.[0]?.host).toBe(
      'x.example.test',
    );
    await networking.deleteNamespacedIngress({ namespace, name: 'i' });
    expect(await statusOf(networking.readNamespacedIngress({ namespace, name: 'i' }))).toMatchObject({
      code: 404,
      details: { name: 'i', group: 'networking.k8s.io', kind: 'ingresses' },
    });
  });
});

describe('paging', () => {
  it('pages with limit and continue, and refuses a token from before a compaction with 410', async () => {
    for (const name of ['a', 'b', 'c']) sim.kube.addPod({ name, namespace });
    const first = await core.listNamespacedPod({ namespace, limit: 2 });
    expect(first.items.map((p) => p.metadata?.name)).toEqual(['a', 'b']);
    expect(first.metadata?.remainingItemCount).toBe(1);
    const second = await core.listNamespacedPod({ namespace, limit: 2, _continue: first.metadata?._continue });
    expect(second.items.map((p) => p.metadata?.name)).toEqual(['c']);
    expect(second.metadata?._continue).toBeUndefined();
    expect(second.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion);
    sim.kube.addPod({ name: 'd', namespace });
    sim.kube.compact();
    expect(
      await statusOf(core.listNamespacedPod({ namespace, limit: 2, _continue: first.metadata?._continue })),
    ).toMatchObject({ code: 410, reason: 'Expired' });
  });
});

describe('the watch protocol', () => {
  const watch = async (query: string) => {
    const response = await fetch(`${sim.url}/api/v1/namespaces/${namespace}/pods?watch=true&${query}`);
    const lines = (await response.text()).trim().split('\n').filter(Boolean);
    return lines.map(
      (line) =>
        JSON.parse(line) as {
          type: string;
          object: { metadata?: { name?: string; resourceVersion?: string }; code?: number; reason?: string };
        },
    );
  };

  it('replays the changes after a version, then ends at timeoutSeconds with a bookmark', async () => {
    const a = sim.kube.addPod({ name: 'a', namespace });
    const from = (await core.listNamespacedPod({ namespace })).metadata!.resourceVersion!;
    sim.kube.setPodPhase(a, 'Succeeded');
    sim.kube.addPod({ name: 'b', namespace });
    sim.kube.addPod({ name: 'elsewhere', namespace: `${namespace}-x` });
    const events = await watch(`resourceVersion=${from}&timeoutSeconds=1&allowWatchBookmarks=true`);
    expect(events.map((e) => `${e.type} ${e.object.metadata?.name ?? ''}`)).toEqual([
      'MODIFIED a',
      'ADDED b',
      'BOOKMARK ',
    ]);
    expect(Number(events[2]!.object.metadata?.resourceVersion)).toBeGreaterThan(Number(from));
  });

  it('sends ADDED for what exists when started without a version, then stays open', async () => {
    sim.kube.addPod({ name: 'a', namespace });
    const stop = new AbortController();
    const response = await fetch(`${sim.url}/api/v1/namespaces/${namespace}/pods?watch=1`, { signal: stop.signal });
    const reader = response.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    sim.kube.addPod({ name: 'b', namespace });
    const second = new TextDecoder().decode((await reader.read()).value);
    stop.abort();
    expect(
      [first, second]
        .map((line) => JSON.parse(line) as { type: string; object: { metadata: { name: string } } })
        .map((e) => `${e.type} ${e.object.metadata.name}`),
    ).toEqual(['ADDED a', 'ADDED b']);
  });

  it('answers a version older than the history with an ERROR event carrying 410 Expired', async () => {
    const from = (await core.listNamespacedPod({ namespace })).metadata!.resourceVersion!;
    sim.kube.addPod({ name: 'a', namespace });
    sim.kube.compact();
    const events = await watch(`resourceVersion=${from}&timeoutSeconds=5`);
    expect(events).toEqual([
      { type: 'ERROR', object: expect.objectContaining({ kind: 'Status', code: 410, reason: 'Expired' }) as unknown },
    ]);
  });
});

describe('exec upgrades', () => {
  const upgrade = (method: string, path: string) =>
    new Promise<{ status: number; protocol?: string; body?: string }>((resolve, reject) => {
      const request = http.request(`${sim.url}${path}`, {
        method,
        headers: {
          Connection: 'Upgrade',
          Upgrade: 'websocket',
          'Sec-WebSocket-Version': '13',
          'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
          'Sec-WebSocket-Protocol': 'v4.channel.k8s.io, v5.channel.k8s.io',
        },
      });
      request.on('upgrade', (response, socket) => {
        socket.destroy();
        resolve({ status: response.statusCode ?? 0, protocol: response.headers['sec-websocket-protocol'] as string });
      });
      request.on('response', (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      });
      request.on('error', reject);
      request.end();
    });

  it('accepts POST as well as GET, preferring v5 whatever the order offered', async () => {
    sim.kube.addPod({ name: 'p', namespace });
    const path = `/api/v1/namespaces/${namespace}/pods/p/exec?command=true&stdout=true`;
    expect(await upgrade('POST', path)).toEqual({ status: 101, protocol: 'v5.channel.k8s.io' });
    expect(await upgrade('GET', path)).toEqual({ status: 101, protocol: 'v5.channel.k8s.io' });
  });

  it('refuses a missing pod with a 404 Status and no command with a 400', async () => {
    const missing = await upgrade('GET', `/api/v1/namespaces/${namespace}/pods/none/exec?command=true`);
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body!)).toMatchObject({
      kind: 'Status',
      reason: 'NotFound',
      details: { name: 'none', kind: 'pods' },
    });
    sim.kube.addPod({ name: 'p', namespace });
    const noCommand = await upgrade('GET', `/api/v1/namespaces/${namespace}/pods/p/exec?stdout=true`);
    expect([noCommand.status, JSON.parse(noCommand.body!).message]).toEqual([
      400,
      'you must specify at least 1 command',
    ]);
  });
});

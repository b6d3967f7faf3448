/*
 * shared/kube pod, service, ingress and event operations through the real client against the
 * simulator: selectors, paging, graceful deletion on a ManualClock, deletion by label.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { createKube } from '../../shared/kube/index.js';
import type { Kube } from '../../shared/kube/index.js';
import { startSim } from '../../sim/server.js';
import type { Sim } from '../../sim/server.js';

let sim: Sim;
let kube: Kube;
const clock = new ManualClock('2026-03-01T12:00:00Z');
let namespace: string;
let serial = 0;

beforeAll(async () => {
  sim = await startSim({ clock });
  kube = createKube({
    server: sim.url,
    token: sim.token,
    requestTimeoutMs: 2_000,
    execTimeoutMs: 2_000,
    listPageSize: 2,
  });
});
afterAll(() => sim.close());
beforeEach(() => {
  serial += 1;
  namespace = `pods-${serial}`;
  sim.requests.clear();
});

const names = (pods: { metadata?: { name?: string } }[]) => pods.map((p) => p.metadata?.name).sort();

describe('listPods', () => {
  beforeEach(() => {
    sim.kube.addPod({ name: 'a', namespace, labels: { app: 'gpu', tier: 'fe' } });
    sim.kube.addPod({ name: 'b', namespace, labels: { app: 'gpu', tier: 'be' } });
    sim.kube.addPod({ name: 'c', namespace, labels: { app: 'lab' } });
    sim.kube.addPod({ name: 'd', namespace, labels: { app: 'lab', tier: 'fe' }, phase: 'Pending' });
    sim.kube.addPod({ name: 'e', namespace });
  });

  it.each([
    ['app=gpu', ['a', 'b']],
    ['app==lab', ['c', 'd']],
    ['app!=gpu', ['c', 'd', 'e']],
    ['tier', ['a', 'b', 'd']],
    ['!tier', ['c', 'e']],
    ['tier in (fe,be)', ['a', 'b', 'd']],
    ['tier notin (fe)', ['b', 'c', 'e']],
    ['app=lab,tier=fe', ['d']],
  ])('selects by label %s', async (labelSelector, expected) => {
    expect(names((await kube.listPods({ namespace, labelSelector })).items)).toEqual(expected);
  });

  it('selects by field, and combines fields with labels', async () => {
    expect(names((await kube.listPods({ namespace, fieldSelector: 'status.phase=Pending' })).items)).toEqual(['d']);
    expect(
      names(
        (await kube.listPods({ namespace, fieldSelector: 'status.phase!=Pending', labelSelector: 'app=lab' })).items,
      ),
    ).toEqual(['c']);
    expect(names((await kube.listPods({ namespace, fieldSelector: 'metadata.name=e' })).items)).toEqual(['e']);
  });

  it('follows continue tokens to the last page and reports the first page version', async () => {
    const list = await kube.listPods({ namespace });
    expect(names(list.items)).toEqual(['a', 'b', 'c', 'd', 'e']);
    const pages = sim.requests.all().filter((r) => r.path === `/api/v1/namespaces/${namespace}/pods`);
    expect(pages.map((r) => r.query.get('limit'))).toEqual(['2', '2', '2']);
    expect(pages[0]!.query.has('continue')).toBe(false);
    expect(pages.slice(1).every((r) => r.query.get('continue'))).toBe(true);
    expect(Number(list.resourceVersion)).toBeGreaterThan(0);
  });

  it('lists across all namespaces when no namespace is given', async () => {
    sim.kube.addPod({ name: 'elsewhere', namespace: `${namespace}-other`, labels: { marker: namespace } });
    sim.kube.addPod({ name: 'here', namespace, labels: { marker: namespace } });
    const list = await kube.listPods({ labelSelector: `marker=${namespace}` });
    expect(list.items.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`)).toEqual([
      `${namespace}-other/elsewhere`,
      `${namespace}/here`,
    ]);
    expect(sim.requests.all().some((r) => r.path === '/api/v1/pods')).toBe(true);
  });
});

describe('getPod', () => {
  it('reads a pod with its container statuses and dates', async () => {
    sim.kube.addPod({ name: 'p', namespace, containers: ['gpu-dev', 'sidecar'] });
    const pod = await kube.getPod({ namespace, name: 'p' });
    expect(pod.status?.phase).toBe('Running');
    expect(pod.status?.containerStatuses?.map((c) => c.name)).toEqual(['gpu-dev', 'sidecar']);
    expect(pod.metadata?.creationTimestamp).toEqual(new Date('2026-03-01T12:00:00Z'));
  });

  it('reports an OOM kill as a restarted container with the termination', async () => {
    const ref = sim.kube.addPod({ name: 'p', namespace });
    clock.advanceMinutes(1);
    sim.kube.oomKill(ref, 'gpu-dev');
    const status = (await kube.getPod({ namespace, name: 'p' })).status?.containerStatuses?.[0];
    expect(status?.restartCount).toBe(1);
    expect(status?.state?.running).toBeDefined();
    expect(status?.lastState?.terminated).toMatchObject({
      reason: 'OOMKilled',
      exitCode: 137,
      finishedAt: clock.now(),
    });
  });

  it('reports an eviction as Failed with a DisruptionTarget condition', async () => {
    const ref = sim.kube.addPod({ name: 'p', namespace });
    sim.kube.evict(ref);
    const pod = await kube.getPod({ namespace, name: 'p' });
    expect(pod.status).toMatchObject({ phase: 'Failed', reason: 'Evicted' });
    expect(pod.status?.conditions?.find((c) => c.type === 'DisruptionTarget')?.status).toBe('True');
  });
});

describe('deletePod', () => {
  it('marks the pod Terminating and removes it when the grace period has passed on the clock', async () => {
    sim.kube.addPod({ name: 'p', namespace });
    expect(await kube.deletePod({ namespace, name: 'p', gracePeriodSeconds: 30 })).toBe(true);
    const terminating = await kube.getPod({ namespace, name: 'p' });
    expect(terminating.metadata?.deletionTimestamp).toEqual(new Date(clock.now().getTime() + 30_000));
    expect(terminating.metadata?.deletionGracePeriodSeconds).toBe(30);
    clock.advanceSeconds(29);
    expect(sim.kube.tick()).toBe(0);
    clock.advanceSeconds(1);
    expect(sim.kube.tick()).toBe(1);
    await expect(kube.getPod({ namespace, name: 'p' })).rejects.toMatchObject({ name: 'NotFound' });
  });

  it('removes at once with grace 0, and answers false for a pod that is already gone', async () => {
    sim.kube.addPod({ name: 'p', namespace });
    expect(await kube.deletePod({ namespace, name: 'p', gracePeriodSeconds: 0 })).toBe(true);
    expect(sim.kube.pod({ namespace, name: 'p' })).toBeUndefined();
    expect(await kube.deletePod({ namespace, name: 'p', gracePeriodSeconds: 30 })).toBe(false);
  });

  it('removes a finished pod at once whatever the grace period, as the API server does', async () => {
    const ref = sim.kube.addPod({ name: 'p', namespace });
    sim.kube.failPod(ref, 'Error');
    expect(await kube.deletePod({ namespace, name: 'p', gracePeriodSeconds: 30 })).toBe(true);
    expect(sim.kube.pod(ref)).toBeUndefined();
  });
});

describe('services and ingresses by label', () => {
  it('deletes only the labelled ones and reports their names', async () => {
    sim.kube.addService({ name: 'r1-ssh', namespace, labels: { reservation: 'r1' }, type: 'NodePort' });
    sim.kube.addService({ name: 'r1-web', namespace, labels: { reservation: 'r1' } });
    sim.kube.addService({ name: 'r2-ssh', namespace, labels: { reservation: 'r2' } });
    sim.kube.addIngress({ name: 'r1', namespace, labels: { reservation: 'r1' }, host: 'r1.example.test' });
    sim.kube.addIngress({ name: 'r2', namespace, labels: { reservation: 'r2' } });
    expect((await kube.deleteServices({ namespace, labelSelector: 'reservation=r1' })).sort()).toEqual([
      'r1-ssh',
      'r1-web',
    ]);
    expect(await kube.deleteIngresses({ namespace, labelSelector: 'reservation=r1' })).toEqual(['r1']);
    expect(await kube.listServices({ namespace, labelSelector: 'reservation=r1' })).toEqual([]);
    expect(await kube.listIngresses({ namespace, labelSelector: 'reservation=r1' })).toEqual([]);
    expect(names(sim.kube.list('services', namespace))).toEqual(['r2-ssh']);
    expect(names(sim.kube.list('ingresses', namespace))).toEqual(['r2']);
  });

  it('treats a service deleted by someone else between list and delete as already gone', async () => {
    sim.kube.addService({ name: 'a', namespace, labels: { reservation: 'r1' } });
    sim.kube.addService({ name: 'b', namespace, labels: { reservation: 'r1' } });
    sim.faults.add({
      method: 'DELETE',
      path: `/api/v1/namespaces/${namespace}/services/a`,
      status: 404,
      body: {
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        reason: 'NotFound',
        message: 'services "a" not found',
        details: { name: 'a', kind: 'services' },
        code: 404,
      },
      count: 1,
    });
    expect(await kube.deleteServices({ namespace, labelSelector: 'reservation=r1' })).toEqual(['b']);
  });
});

describe('listEvents', () => {
  it('selects events about one pod by involvedObject fields', async () => {
    const ref = sim.kube.addPod({ name: 'p', namespace });
    sim.kube.addPod({ name: 'q', namespace });
    sim.kube.evict(ref);
    sim.kube.addEvent({
      namespace,
      involvedObject: { kind: 'Pod', name: 'q' },
      reason: 'Pulled',
      message: 'image pulled',
    });
    const events = await kube.listEvents({ namespace, fieldSelector: 'involvedObject.kind=Pod,involvedObject.name=p' });
    expect(events.map((e) => [e.reason, e.type])).toEqual([['Evicted', 'Warning']]);
    expect(events[0]?.involvedObject.uid).toBe(ref.uid);
  });
});

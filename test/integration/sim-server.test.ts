/*
 * The combined simulator server: routing between the Kubernetes API and the AWS simulator, route
 * faults (deterministic with a seed), the request log, and the pod-gone → volume-detached link.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { startSim } from '../../sim/server.js';
import type { Sim } from '../../sim/server.js';

let sim: Sim;
const clock = new ManualClock('2026-03-01T12:00:00Z');

beforeAll(async () => {
  sim = await startSim({ clock, faultSeed: 7 });
});
afterAll(() => sim.close());
beforeEach(() => {
  sim.faults.clear();
  sim.requests.clear();
});

const get = (path: string, init: RequestInit = {}) =>
  fetch(`${sim.url}${path}`, { ...init, headers: { authorization: `Bearer ${sim.token}`, ...init.headers } });
const describeVolumes = () =>
  fetch(sim.url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'Action=DescribeVolumes&Version=2016-11-15',
  });

describe('routing', () => {
  it('serves Kubernetes paths as JSON', async () => {
    for (const path of [
      '/version',
      '/api',
      '/apis',
      '/api/v1',
      '/apis/networking.k8s.io/v1',
      '/api/v1/namespaces/default/pods',
    ]) {
      const response = await get(path);
      expect([path, response.status, response.headers.get('content-type')]).toEqual([path, 200, 'application/json']);
    }
    expect(await (await get('/api/v1')).json()).toMatchObject({ kind: 'APIResourceList', groupVersion: 'v1' });
  });

  it('answers an unknown Kubernetes path with a 404 Status that names nothing', async () => {
    const response = await get('/apis/apps/v1/namespaces/default/deployments');
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ kind: 'Status', reason: 'NotFound', details: {}, code: 404 });
  });

  it('hands other requests to the AWS simulator, and 404s what neither serves', async () => {
    sim.aws.addVolume({ volumeId: 'vol-0000000000000000a', sizeGiB: 10 });
    const ec2 = await describeVolumes();
    expect(ec2.status).toBe(200);
    expect(await ec2.text()).toContain('<volumeId>vol-0000000000000000a</volumeId>');
    const nothing = await fetch(`${sim.url}/nothing-here`);
    expect(nothing.status).toBe(404);
    expect(nothing.headers.get('content-type')).toBe('application/json');
  });

  it('refuses a wrong bearer token with a 401 Status', async () => {
    const response = await fetch(`${sim.url}/api/v1/pods`, { headers: { authorization: 'Bearer nope' } });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
  });
});

describe('faults', () => {
  it('answer a Kubernetes route with a Status for a number of times, by method', async () => {
    sim.faults.add({ method: 'get', path: '/api/v1/namespaces/default/pods', status: 503, count: 2 });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await get('/api/v1/namespaces/default/pods')).status);
    expect(statuses).toEqual([503, 503, 200]);
    sim.faults.add({ path: '/api/v1/namespaces/default/pods', status: 500, count: 1 });
    expect(await (await get('/api/v1/namespaces/default/pods')).json()).toMatchObject({
      kind: 'Status',
      status: 'Failure',
      reason: 'InternalError',
      code: 500,
    });
    expect((await get('/api/v1/namespaces/default/pods', { method: 'DELETE' })).status).toBe(200);
  });

  it('answer an AWS route in the EC2 error format when given an error code', async () => {
    sim.faults.add({ path: '/', method: 'POST', status: 503, awsErrorCode: 'RequestLimitExceeded', count: 1 });
    const response = await describeVolumes();
    expect(response.status).toBe(503);
    expect(await response.text()).toMatch(
      /<Response><Errors><Error><Code>RequestLimitExceeded<\/Code><Message>.*<\/Message><\/Error><\/Errors><RequestID>[0-9a-f-]{36}<\/RequestID><\/Response>$/,
    );
  });

  it('fire with a seeded probability, the same way on every run', async () => {
    sim.faults.add({ path: /^\/version/, status: 500, probability: 0.5 });
    const statuses = [];
    for (let i = 0; i < 12; i++) statuses.push((await get('/version')).status);
    const again = await startSim({ faultSeed: 7 });
    again.faults.add({ path: /^\/version/, status: 500, probability: 0.5 });
    const replay = [];
    for (let i = 0; i < 12; i++) replay.push((await fetch(`${again.url}/version`)).status);
    await again.close();
    expect(replay).toEqual(statuses);
    expect(statuses).toContain(500);
    expect(statuses).toContain(200);
  });

  it('reset the connection', async () => {
    sim.faults.add({ path: '/version', reset: true, count: 1 });
    await expect(get('/version')).rejects.toThrow(/fetch failed/);
    expect((await get('/version')).status).toBe(200);
  });

  it('delay an answer', async () => {
    sim.faults.add({ path: '/version', delayMs: 150, count: 1 });
    const started = performance.now();
    expect((await get('/version')).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('match a RegExp against the path and query, and leave non-watch requests to dropWatch rules', async () => {
    sim.faults.add({ path: /labelSelector=app%3Dx/, status: 429, retryAfterSeconds: 3, count: 1 });
    const throttled = await get('/api/v1/pods?labelSelector=app%3Dx');
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('3');
    sim.faults.add({ path: '/api/v1/pods', dropWatch: true, count: 1 });
    expect((await get('/api/v1/pods')).status).toBe(200);
    const watch = await get('/api/v1/pods?watch=true');
    await expect(watch.text()).rejects.toThrow();
  });

  it('refuse a probability outside 0..1', () => {
    expect(() => sim.faults.add({ path: '/x', probability: 2 })).toThrow(RangeError);
  });
});

describe('the request log', () => {
  it('records method, path, query, selected headers and body in order', async () => {
    await get('/api/v1/namespaces/default/pods?labelSelector=a%3Db');
    await get('/api/v1/namespaces/default/pods', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    const [list, create] = sim.requests.all();
    expect(list).toMatchObject({
      method: 'GET',
      path: '/api/v1/namespaces/default/pods',
      headers: { authorization: `Bearer ${sim.token}` },
      at: clock.now(),
    });
    expect(list!.query.get('labelSelector')).toBe('a=b');
    expect(create).toMatchObject({ method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    sim.requests.clear();
    expect(sim.requests.all()).toEqual([]);
  });
});

describe('pods and volumes', () => {
  it('detaches the EBS volumes of a pod that is gone', async () => {
    sim.aws.addVolume({ volumeId: 'vol-0000000000000000b', sizeGiB: 100, attachedTo: 'i-node' });
    sim.aws.addVolume({ volumeId: 'vol-0000000000000000c', sizeGiB: 100, attachedTo: 'i-node' });
    const pod = sim.kube.addPod({
      name: 'gpu',
      namespace: 'dev',
      volumes: [{ name: 'home', awsElasticBlockStore: { volumeID: 'vol-0000000000000000b' } }],
    });
    await get('/api/v1/namespaces/dev/pods/gpu?gracePeriodSeconds=30', { method: 'DELETE' });
    expect(sim.aws.volume('vol-0000000000000000b')?.state).toBe('in-use');
    clock.advanceSeconds(30);
    sim.kube.tick();
    expect(sim.kube.pod(pod)).toBeUndefined();
    expect(sim.aws.volume('vol-0000000000000000b')).toMatchObject({ state: 'available' });
    expect(sim.aws.volume('vol-0000000000000000b')?.attachedTo).toBeUndefined();
    expect(sim.aws.volume('vol-0000000000000000c')?.state).toBe('in-use');
  });

  it('tells onPodGone listeners the last state of a pod, until they unsubscribe', () => {
    const gone: string[] = [];
    const unsubscribe = sim.kube.onPodGone((pod) => gone.push(`${pod.metadata.name} ${pod.status.phase}`));
    const a = sim.kube.addPod({ name: 'a', namespace: 'dev' });
    sim.kube.failPod(a, 'Error');
    sim.kube.deleteBehindOurBack(a);
    unsubscribe();
    sim.kube.deleteBehindOurBack(sim.kube.addPod({ name: 'b', namespace: 'dev' }));
    expect(gone).toEqual(['a Failed']);
  });
});

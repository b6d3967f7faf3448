/*
 * kube.watchPods through the real client: it starts from a list, follows changes, and survives a
 * dropped stream and a 410 Gone without missing an update or repeating one.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { Fatal } from '../../shared/errors.js';
import { createKube } from '../../shared/kube/index.js';
import type { Kube, PodEvent } from '../../shared/kube/index.js';
import { startSim } from '../../sim/server.js';
import type { Sim } from '../../sim/server.js';

let sim: Sim;
let kube: Kube;
const clock = new ManualClock('2026-03-01T12:00:00Z');
let namespace: string;
let serial = 0;
let stop: AbortController;
let events: string[];
let errors: Error[];
let done: Promise<void>;

beforeAll(async () => {
  sim = await startSim({ clock });
  kube = createKube({ server: sim.url, token: sim.token, requestTimeoutMs: 1_000, execTimeoutMs: 1_000 });
});
afterAll(() => sim.close());
beforeEach(() => {
  serial += 1;
  namespace = `watch-${serial}`;
  stop = new AbortController();
  events = [];
  errors = [];
  sim.requests.clear();
});
afterEach(async () => {
  stop.abort();
  await done;
  sim.faults.clear();
});

function describeEvent({ type, pod }: PodEvent): string {
  const phase = pod.status?.phase ?? '';
  const restarts = pod.status?.containerStatuses?.[0]?.restartCount ?? 0;
  return `${type} ${pod.metadata?.name} ${phase}${restarts ? ` restarts=${restarts}` : ''}${pod.metadata?.deletionTimestamp ? ' terminating' : ''}`;
}

function start(labelSelector?: string): void {
  done = kube.watchPods({
    namespace,
    ...(labelSelector && { labelSelector }),
    onEvent: (event) => events.push(describeEvent(event)),
    onError: (err) => errors.push(err),
    signal: stop.signal,
  });
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!condition()) throw new Error(`timed out waiting for ${what}; events: ${JSON.stringify(events)}`);
}

const watchRequests = () => sim.requests.all().filter((r) => r.query.get('watch') === 'true');

describe('watchPods', () => {
  it('reports the listed pods, then every change, and stops when aborted', async () => {
    const a = sim.kube.addPod({ name: 'a', namespace });
    start();
    await until(() => watchRequests().length === 1, 'the watch');
    sim.kube.addPod({ name: 'b', namespace, phase: 'Pending' });
    sim.kube.setPodPhase({ namespace, name: 'b' }, 'Running');
    sim.kube.oomKill(a);
    sim.kube.deleteBehindOurBack(a);
    await until(() => events.length === 5, 'five events');
    expect(events).toEqual([
      'ADDED a Running',
      'ADDED b Pending',
      'MODIFIED b Running',
      'MODIFIED a Running restarts=1',
      'DELETED a Running restarts=1',
    ]);
    expect(watchRequests()[0]!.query.get('resourceVersion')).toMatch(/^\d+$/);
    stop.abort();
    await done;
    expect(errors).toEqual([]);
  });

  it('follows a graceful deletion on the clock: Terminating, then gone', async () => {
    sim.kube.addPod({ name: 'a', namespace });
    start();
    await until(() => events.length === 1, 'the listed pod');
    await kube.deletePod({ namespace, name: 'a', gracePeriodSeconds: 30 });
    await until(() => events.length === 2, 'terminating');
    clock.advanceSeconds(30);
    sim.kube.tick();
    await until(() => events.length === 3, 'the deletion');
    expect(events).toEqual(['ADDED a Running', 'MODIFIED a Running terminating', 'DELETED a Running terminating']);
  });

  it('sees only pods matching its label selector, and one that stops matching as DELETED', async () => {
    sim.kube.addPod({ name: 'ours', namespace, labels: { app: 'gpu' } });
    sim.kube.addPod({ name: 'theirs', namespace, labels: { app: 'other' } });
    start('app=gpu');
    await until(() => events.length === 1, 'the listed pod');
    await fetch(`${sim.url}/api/v1/namespaces/${namespace}/pods/ours`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${sim.token}`, 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ metadata: { labels: { app: 'moved' } } }),
    });
    await until(() => events.length === 2, 'the pod leaving the selection');
    expect(events).toEqual(['ADDED ours Running', 'DELETED ours Running']);
  });

  it('survives a dropped stream without missing the change made while it was down', async () => {
    sim.kube.addPod({ name: 'a', namespace });
    // The first stream is cut 50 ms in, and the resumed watch is held 300 ms in the server: the
    // changes below land while no stream is open, so only a resume from the right version sees them.
    sim.faults.add({ path: `/api/v1/namespaces/${namespace}/pods`, dropWatch: true, delayMs: 50, count: 1 });
    sim.faults.add({
      path: new RegExp(`^/api/v1/namespaces/${namespace}/pods\\?.*watch=true`),
      delayMs: 300,
      count: 1,
    });
    start();
    await until(() => watchRequests().length === 2, 'the resumed watch to be held');
    expect(events).toEqual(['ADDED a Running']);
    sim.kube.setPodPhase({ namespace, name: 'a' }, 'Failed');
    sim.kube.addPod({ name: 'b', namespace });
    await until(() => events.length === 3, 'three events');
    expect(events).toEqual(['ADDED a Running', 'MODIFIED a Failed', 'ADDED b Running']);
    expect(errors.map((e) => e.name)).toEqual(['Transient']);
    const [first, second] = watchRequests();
    expect(second!.query.get('resourceVersion')).toBe(first!.query.get('resourceVersion'));
    const lists = sim.requests
      .all()
      .filter((r) => r.path === `/api/v1/namespaces/${namespace}/pods` && !r.query.has('watch'));
    expect(lists).toHaveLength(1);
  });

  it('lists again after 410 Gone and reports exactly what changed while it was away', async () => {
    sim.kube.addPod({ name: 'stays', namespace });
    sim.kube.addPod({ name: 'changes', namespace });
    sim.kube.addPod({ name: 'goes', namespace });
    // The first stream is cut 50 ms in; everything below happens while it is down, then history is
    // compacted, so resuming from the last version gets 410 and the watch must list again.
    sim.faults.add({ path: `/api/v1/namespaces/${namespace}/pods`, dropWatch: true, delayMs: 50, count: 1 });
    sim.faults.add({
      path: new RegExp(`^/api/v1/namespaces/${namespace}/pods\\?.*watch=true`),
      delayMs: 300,
      count: 1,
    });
    start();
    await until(() => events.length === 3 && watchRequests().length === 1, 'the listed pods');
    await until(() => watchRequests().length === 2, 'the resumed watch to be held');
    sim.kube.oomKill({ namespace, name: 'changes' });
    sim.kube.deleteBehindOurBack({ namespace, name: 'goes' });
    sim.kube.addPod({ name: 'new', namespace });
    sim.kube.compact();
    await until(() => events.length === 6 && watchRequests().length === 3, 'the relist and a new watch');
    expect(events.slice(3).sort()).toEqual([
      'ADDED new Running',
      'DELETED goes Running',
      'MODIFIED changes Running restarts=1',
    ]);
    sim.kube.setPodPhase({ namespace, name: 'stays' }, 'Succeeded');
    await until(() => events.length === 7, 'a change after the relist');
    expect(events[6]).toBe('MODIFIED stays Succeeded');
    const lists = sim.requests
      .all()
      .filter((r) => r.path === `/api/v1/namespaces/${namespace}/pods` && !r.query.has('watch'));
    expect(lists).toHaveLength(2);
  });

  it('lists again when the watch request itself is answered 410', async () => {
    sim.kube.addPod({ name: 'a', namespace });
    sim.faults.add({ path: new RegExp(`^/api/v1/namespaces/${namespace}/pods\\?.*watch=true`), status: 410, count: 1 });
    start();
    await until(() => watchRequests().length === 2, 'a second watch');
    sim.kube.addPod({ name: 'b', namespace });
    await until(() => events.length === 2, 'the new pod');
    expect(events).toEqual(['ADDED a Running', 'ADDED b Running']);
    const lists = sim.requests
      .all()
      .filter((r) => r.path === `/api/v1/namespaces/${namespace}/pods` && !r.query.has('watch'));
    expect(lists).toHaveLength(2);
    expect(errors).toEqual([]);
  });

  it('rejects when the server refuses it for good (403), instead of retrying forever', async () => {
    sim.faults.add({ path: `/api/v1/namespaces/${namespace}/pods`, status: 403 });
    start();
    await expect(done).rejects.toThrow(Fatal);
    done = Promise.resolve();
  });
});

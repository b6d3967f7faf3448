/*
 * The simulated API server's paged lists, as the real client sees them, while the cluster changes
 * between pages: every pod present through the listing comes exactly once and in key order, a
 * label-value selector follows creates, deletes and relabels, a selective list ends as the real
 * server's does, and an expired continue token is refused with a token that resumes where it was.
 */
import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { V1PodList } from '@kubernetes/client-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { startSim } from '../../sim/server.js';
import type { Sim } from '../../sim/server.js';

let sim: Sim;
let core: CoreV1Api;
let namespace: string;
let serial = 0;

beforeAll(async () => {
  sim = await startSim({ clock: new ManualClock('2026-03-01T12:00:00Z') });
  core = sim.kubeConfig().makeApiClient(CoreV1Api);
});
afterAll(() => sim.close());
beforeEach(() => {
  namespace = `paging-${++serial}`;
  sim.kube.addNamespace(namespace);
});

const name = (i: number) => `pod-${String(i).padStart(3, '0')}`;
const names = (list: V1PodList) => list.items.map((pod) => pod.metadata!.name!);
const addPods = (from: number, to: number, labels: Record<string, string> = { 'reservation-id': 'r' }) => {
  for (let i = from; i < to; i++)
    sim.kube.addPod({ name: name(i), namespace, labels: { ...labels, 'reservation-id': `r-${i}` } });
};

async function pagesOf(
  query: { labelSelector?: string; limit: number },
  between: (page: number) => Promise<void> | void = () => {},
): Promise<V1PodList[]> {
  const pages: V1PodList[] = [];
  let token: string | undefined;
  do {
    const page = await core.listNamespacedPod({
      namespace,
      ...query,
      ...(token !== undefined && { _continue: token }),
    });
    pages.push(page);
    token = page.metadata?._continue;
    await between(pages.length);
  } while (token);
  return pages;
}

describe('paged lists while pods come and go', () => {
  it('lists every pod present throughout exactly once, in key order, with pods added and deleted between pages', async () => {
    addPods(10, 50);
    const deleted: string[] = [];
    const pages = await pagesOf({ labelSelector: 'reservation-id', limit: 7 }, (page) => {
      if (page > 3) return;
      // Before the cursor (never to be listed), after it (listed), and deletions on both sides.
      sim.kube.addPod({ name: name(page), namespace, labels: { 'reservation-id': `early-${page}` } });
      sim.kube.addPod({ name: name(60 + page), namespace, labels: { 'reservation-id': `late-${page}` } });
      for (const gone of [name(10 + page), name(45 + page)]) {
        sim.kube.deleteBehindOurBack({ namespace, name: gone });
        deleted.push(gone);
      }
    });
    const listed = pages.flatMap(names);
    expect(new Set(listed).size).toBe(listed.length);
    expect(listed).toEqual([...listed].sort());
    const throughout = Array.from({ length: 40 }, (_, i) => name(10 + i)).filter((n) => !deleted.includes(n));
    expect(listed.filter((n) => throughout.includes(n))).toEqual(throughout);
    expect(listed).toEqual(expect.arrayContaining([name(61), name(62), name(63)]));
    expect(listed).not.toContain(name(46));
    expect(pages.every((page) => page.metadata?.resourceVersion === pages[0]!.metadata?.resourceVersion)).toBe(true);
  });

  it('reports the objects after a page as remainingItemCount on an unfiltered list', async () => {
    addPods(0, 12);
    const pages = await pagesOf({ limit: 5 });
    expect(pages.map((page) => page.metadata?.remainingItemCount)).toEqual([7, 2, undefined]);
    expect(pages.flatMap(names)).toEqual(Array.from({ length: 12 }, (_, i) => name(i)));
  });

  it('ends a selective list as the real server does: a full page continues while any object follows it', async () => {
    addPods(0, 4, { tier: 'gpu' });
    sim.kube.addPod({ name: name(9), namespace });
    const pages = await pagesOf({ labelSelector: 'tier=gpu', limit: 2 });
    expect(pages.map(names)).toEqual([[name(0), name(1)], [name(2), name(3)], []]);
    expect(pages.every((page) => page.metadata?.remainingItemCount === undefined)).toBe(true);
  });
});

describe('a label-value selector reads the label index', () => {
  const select = async (selector: string, limit?: number) =>
    (await pagesOf({ labelSelector: selector, limit: limit ?? 100 })).flatMap(names);

  it('follows creates, deletes and label changes, paged or not', async () => {
    addPods(0, 6, { team: 'a' });
    await core.patchNamespacedPod(
      { namespace, name: name(2), body: { metadata: { labels: { team: 'b' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    sim.kube.deleteBehindOurBack({ namespace, name: name(4) });
    sim.kube.addPod({ name: name(7), namespace, labels: { team: 'b' } });
    expect(await select('team=a')).toEqual([name(0), name(1), name(3), name(5)]);
    expect(await select('team in (a,b)', 2)).toEqual([name(0), name(1), name(2), name(3), name(5), name(7)]);
    expect(await select('team in (b),reservation-id')).toEqual([name(2)]);
    expect(await select('team=c')).toEqual([]);
  });
});

describe('an expired continue token', () => {
  it('is refused with 410 and a token that resumes after the same key at the current version', async () => {
    addPods(0, 6);
    const first = await core.listNamespacedPod({ namespace, limit: 2 });
    sim.kube.addPod({ name: name(1) + '-b', namespace });
    sim.kube.addPod({ name: name(8), namespace });
    sim.kube.compact();
    const refusal = await core.listNamespacedPod({ namespace, limit: 2, _continue: first.metadata?._continue }).then(
      () => undefined,
      (err: { code: number; body: string }) => err,
    );
    expect(refusal?.code).toBe(410);
    const status = JSON.parse(refusal!.body) as { reason: string; metadata: { continue?: string } };
    expect(status.reason).toBe('Expired');
    expect(status.metadata.continue).toEqual(expect.any(String));
    const resumed = await core.listNamespacedPod({ namespace, limit: 10, _continue: status.metadata.continue });
    expect(names(resumed)).toEqual([name(1) + '-b', name(2), name(3), name(4), name(5), name(8)]);
    expect(Number(resumed.metadata?.resourceVersion)).toBeGreaterThan(Number(first.metadata?.resourceVersion));
  });
});

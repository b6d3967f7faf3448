/*
 * The pod reader (shared/kube/ports.ts) through the real client against the simulator, where the
 * evidence rules meet the API: an id that cannot be a label value stays out of the batched
 * selector (the API would refuse the whole batch), a failing chunk costs only its own ids, and a
 * 404 for a pod counts as absence only in a namespace that exists (checked once a minute).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { Fatal, Transient } from '../../shared/errors.js';
import { createKube } from '../../shared/kube/index.js';
import { createPodReader } from '../../shared/kube/ports.js';
import type { PodReader } from '../../shared/kube/pods.js';
import { createMetrics } from '../../shared/runtime/metrics.js';
import type { Metrics } from '../../shared/runtime/metrics.js';
import { startSim } from '../../sim/server.js';
import type { Sim } from '../../sim/server.js';

const LABEL = 'reservation-id';
let sim: Sim;
let reader: PodReader;
let metrics: Metrics;
const clock = new ManualClock('2026-03-01T12:00:00Z');
let serial = 0;
let namespace: string;

beforeAll(async () => {
  sim = await startSim({ clock });
  metrics = createMetrics();
  const kube = createKube({ server: sim.url, token: sim.token, requestTimeoutMs: 2_000, execTimeoutMs: 2_000 });
  reader = createPodReader(kube, { reservationLabel: LABEL, clock, metrics });
});
afterAll(() => sim.close());
beforeEach(() => {
  serial += 1;
  namespace = `reader-${serial}`;
  sim.kube.addNamespace(namespace);
  sim.faults.clear();
  sim.requests.clear();
});

const id = (n: number) => `${String(n).padStart(8, '0')}-0000-4000-8000-000000000000`;
const namespaceGets = (name: string) =>
  sim.requests.all().filter((r) => r.method === 'GET' && r.path === `/api/v1/namespaces/${name}`).length;
const missingCount = async (name: string) =>
  (await metrics.podNamespaceMissing.get()).values.find((v) => v.labels.namespace === name)?.value ?? 0;

describe('podsForReservations', () => {
  const hostile = [`${'a'.repeat(64)}`, 'has space', `quote"d`, 'dollar$x', 'new\nline', '-leading', 'trailing.', ''];

  it.each(hostile)(
    'keeps the id %j out of the selector and still finds the pods of the valid ids of its batch',
    async (bad) => {
      const good = Array.from({ length: 120 }, (_, i) => id(i));
      for (const g of good) sim.kube.addPod({ name: `p-${g.slice(0, 8)}`, namespace, labels: { [LABEL]: g } });
      const found = await reader.podsForReservations(namespace, [...good.slice(0, 60), bad, ...good.slice(60)]);
      expect([...found.pods.keys()].sort()).toEqual(good);
      expect(found.failed.size).toBe(0);
      const lists = sim.requests.all().filter((r) => r.path === `/api/v1/namespaces/${namespace}/pods`);
      expect(lists).toHaveLength(3);
      for (const list of lists) expect(list.query.get('labelSelector')).not.toContain(bad === '' ? ',,' : bad);
    },
  );

  it('a chunk whose listing fails marks only its own ids failed; the other chunks are still listed', async () => {
    const good = Array.from({ length: 120 }, (_, i) => id(i));
    for (const g of good) sim.kube.addPod({ name: `p-${g.slice(0, 8)}`, namespace, labels: { [LABEL]: g } });
    sim.faults.add({ method: 'GET', path: new RegExp(`namespaces/${namespace}/pods\\?.*${id(50)}`), status: 500 });
    const found = await reader.podsForReservations(namespace, good);
    expect([...found.failed.keys()].sort()).toEqual(good.slice(50, 100));
    expect([...found.failed.values()][0]).toMatch(/listing pods in reader-\d+ failed/);
    expect([...found.pods.keys()].sort()).toEqual([...good.slice(0, 50), ...good.slice(100)]);
  });
});

describe('readPod: a 404 is absence only where the namespace exists', () => {
  it('answers absent for a missing pod in an existing namespace, asking about the namespace once a minute', async () => {
    expect(await reader.readPod(namespace, 'gone-1')).toBe('absent');
    expect(await reader.readPod(namespace, 'gone-2')).toBe('absent');
    expect(namespaceGets(namespace)).toBe(1);
    clock.advanceSeconds(61);
    expect(await reader.readPod(namespace, 'gone-3')).toBe('absent');
    expect(namespaceGets(namespace)).toBe(2);
  });

  it('refuses (throws, never absent) for a pod in a namespace that does not exist, and counts it', async () => {
    const missing = `missing-${serial}`;
    await expect(reader.readPod(missing, 'p')).rejects.toBeInstanceOf(Fatal);
    await expect(reader.readPod(missing, 'q')).rejects.toThrow(/namespace missing-\d+ does not exist/);
    expect(namespaceGets(missing)).toBe(1);
    expect(await missingCount(missing)).toBe(1);
  });

  it('an unanswered namespace check is unknown too, and is asked again on the next read', async () => {
    sim.faults.add({ method: 'GET', path: `/api/v1/namespaces/${namespace}`, status: 500, count: 1 });
    await expect(reader.readPod(namespace, 'p')).rejects.toBeInstanceOf(Transient);
    expect(await reader.readPod(namespace, 'p')).toBe('absent');
    expect(namespaceGets(namespace)).toBe(2);
  });

  it('a present pod needs no namespace check', async () => {
    sim.kube.addPod({ name: 'here', namespace, labels: { [LABEL]: id(1) } });
    expect(await reader.readPod(namespace, 'here')).toMatchObject({ name: 'here' });
    expect(namespaceGets(namespace)).toBe(0);
  });
});

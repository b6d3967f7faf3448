/*
 * The listing oom-scan reads its pages with (listReservationPods, shared/kube/ports.ts) maps each
 * pod from the answer's JSON as it arrives instead of letting the client build its model objects
 * (shared/kube/item-projection.ts). Through the real client against the simulator: every pod's
 * summary is the one the client's own model gives for it (read by name), in every state oom-scan
 * judges, the continue token still leads through the whole listing, and a refused call still ends
 * in the client's typed errors.
 */
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { Transient } from '../../shared/errors.js';
import { createKube } from '../../shared/kube/index.js';
import type { PodSummary } from '../../shared/kube/pod-health.js';
import { createPodReader } from '../../shared/kube/ports.js';
import type { PodPage, PodReader } from '../../shared/kube/pods.js';
import { createMetrics } from '../../shared/runtime/metrics.js';
import { startSim } from '../../sim/server.js';
import type { Sim } from '../../sim/server.js';

const LABEL = 'reservation-id';
const clock = new ManualClock('2026-03-01T12:00:00Z');
let sim: Sim;
let reader: PodReader;
let namespace = '';
let serial = 0;

beforeAll(async () => {
  sim = await startSim({ clock });
  const kube = createKube({ server: sim.url, token: sim.token, requestTimeoutMs: 2_000, execTimeoutMs: 2_000 });
  reader = createPodReader(kube, { reservationLabel: LABEL, clock, metrics: createMetrics() });
});
afterAll(() => sim.close());
beforeEach(() => {
  namespace = `listing-${++serial}`;
  sim.kube.addNamespace(namespace);
  sim.faults.clear();
});

const pod = (name: string) => ({ namespace, name });

async function listAll(pageSize: number): Promise<{ pods: PodSummary[]; pages: number }> {
  const pods: PodSummary[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const page = (await reader.listReservationPods(namespace, pageSize, token)) as PodPage;
    expect(page).not.toHaveProperty('expired');
    pods.push(...page.pods);
    token = page.continueToken;
    pages += 1;
  } while (token !== undefined);
  return { pods, pages };
}

it('gives every pod the summary the client model gives it, in each state oom-scan judges', async () => {
  const names = ['running', 'oom-restarted', 'evicted', 'failed', 'terminating', 'two-containers'];
  for (const name of names) {
    sim.kube.addPod({
      ...pod(name),
      labels: { [LABEL]: `r-${name}`, team: 'gpu' },
      ...(name === 'two-containers' && { containers: ['gpu-dev', 'sidecar'] }),
    });
  }
  clock.advanceSeconds(30);
  sim.kube.oomKill(pod('oom-restarted'));
  sim.kube.oomKill(pod('two-containers'), 'sidecar');
  sim.kube.evict(pod('evicted'));
  sim.kube.failPod(pod('failed'), 'Error', 'exit 1');
  // Deleted with a grace period: it stays, terminating, with a deletionTimestamp.
  const kube = createKube({ server: sim.url, token: sim.token, requestTimeoutMs: 2_000, execTimeoutMs: 2_000 });
  await kube.deletePod({ namespace, name: 'terminating', gracePeriodSeconds: 30 });

  const { pods } = await listAll(500);
  expect(pods.map((p) => p.name).sort()).toEqual([...names].sort());
  for (const listed of pods) expect(listed).toEqual(await reader.readPod(namespace, listed.name));
  const byName = new Map(pods.map((p) => [p.name, p]));
  expect(byName.get('terminating')!.deleting).toBe(true);
  expect(byName.get('oom-restarted')!.containers[0]!.lastTerminated).toMatchObject({
    reason: 'OOMKilled',
    exitCode: 137,
    finishedAt: clock.now(),
  });
});

it('follows the continue token through the whole listing, each pod once', async () => {
  for (let i = 0; i < 23; i++)
    sim.kube.addPod({ ...pod(`p-${String(i).padStart(2, '0')}`), labels: { [LABEL]: `r-${i}` } });
  sim.kube.addPod({ ...pod('unlabelled') });
  const { pods, pages } = await listAll(5);
  expect(pages).toBe(5);
  expect(pods.map((p) => p.name)).toEqual(Array.from({ length: 23 }, (_, i) => `p-${String(i).padStart(2, '0')}`));
});

it('a refused listing still throws the typed error, and an expired token still answers expired', async () => {
  sim.kube.addPod({ ...pod('a'), labels: { [LABEL]: 'r-a' } });
  sim.faults.add({ method: 'GET', path: new RegExp(`namespaces/${namespace}/pods`), status: 503, count: 1 });
  await expect(reader.listReservationPods(namespace, 10)).rejects.toBeInstanceOf(Transient);

  sim.kube.addPod({ ...pod('b'), labels: { [LABEL]: 'r-b' } });
  const first = (await reader.listReservationPods(namespace, 1)) as PodPage;
  sim.kube.addPod({ namespace: 'default', name: `churn-${serial}` });
  sim.kube.compact();
  const refused = await reader.listReservationPods(namespace, 1, first.continueToken);
  expect(refused).toMatchObject({ expired: true });
});

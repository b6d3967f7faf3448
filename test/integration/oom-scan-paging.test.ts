/*
 * oom-scan's scan at fleet scale, against the simulated cluster (real client, real `limit` and
 * `continue`) and a real database: the scan reads the fleet a page at a time, records each page's
 * kills before reading on, keeps them when a later page fails, stops at its deadline (the next run
 * resumes there), resumes after an expired continue token (410) with the token the refusal
 * carries, and starts a namespace's listing over when a server's refusal carries none.
 */
import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { oomScan } from '../../functions/oom-scan/handler.js';
import type { PodReader } from '../../shared/kube/pods.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertReservation } from '../support/fixtures.js';

const PAGE = 10;
const h = useFunctionHarness({ OOM_SCAN_PAGE_SIZE: String(PAGE) });
const FLEET = 25; // three pages: 10, 10, 5
const FIRST = 0;
const LAST = FLEET - 1;
let namespace = '';
const podOf = (i: number) => ({ namespace, name: `gpu-dev-page${String(i).padStart(4, '0')}` });
const idOf = (i: number) => `${namespace}-${String(i).padStart(4, '0')}`;
let fleets = 0;

// Each test gets a fleet in its own namespace (the simulator keeps pods across tests) and is the
// only one with active reservations.
beforeEach(async () => {
  h.sim.faults.clear();
  h.sim.requests.clear();
  await h.deps.pool.query('truncate oom_kills, reservations, oom_scan_cursor cascade');
  namespace = `fleet-${++fleets}`;
  h.sim.kube.addNamespace(namespace);
  for (let i = 0; i < FLEET; i++) {
    await insertReservation(h.deps.pool, { reservation_id: idOf(i), pod_name: podOf(i).name, namespace });
    h.sim.kube.addPod({ ...podOf(i), labels: { 'reservation-id': idOf(i) } });
  }
});

async function recorded(): Promise<string[]> {
  const { rows } = await h.deps.pool.query<{ reservation_id: string }>(
    'select reservation_id from oom_kills order by reservation_id',
  );
  return rows.map((row) => row.reservation_id);
}

let churned = 0;
/** The cluster moves on and its history is compacted: a continue token from before is now refused. */
function compactAfterChange(): void {
  h.sim.kube.addPod({ namespace: 'default', name: `churn-${++churned}` });
  h.sim.kube.compact();
}

const podLists = () =>
  h.sim.requests.all().filter((r) => r.method === 'GET' && r.path === `/api/v1/namespaces/${namespace}/pods`);

/**
 * A scheduled scan whose pod reader calls `after(n)` once the n-th page (from 1) has been read; with
 * `withoutResume`, as against a server whose 410 carries no continue token.
 */
function scanWith(after: (pagesRead: number) => void, withoutResume = false) {
  let read = 0;
  const inner = h.deps.pods;
  const pods: PodReader = {
    ...inner,
    listReservationPods: async (namespace, pageSize, token) => {
      const page = await inner.listReservationPods(namespace, pageSize, token);
      after(++read);
      return withoutResume && 'expired' in page ? { expired: true } : page;
    },
  };
  const invocation = {
    kind: 'schedule',
    source: 'cron-connector',
    callId: randomUUID(),
    options: oomScan.optionsSchema.parse({}),
  } as const;
  return oomScan.handle(invocation, { ...h.deps, pods });
}

describe('oom-scan pages through the fleet', () => {
  it('finds a kill on the last page, reading the fleet in pages of OOM_SCAN_PAGE_SIZE', async () => {
    h.sim.kube.oomKill(podOf(LAST), 'gpu-dev');
    const run = await h.schedule(oomScan);
    expect(run.summary).toMatchObject({
      pages: 3,
      pods_scanned: FLEET,
      oom_detected: 1,
      notices_sent: 1,
      stopped_at_deadline: 0,
    });
    expect(await recorded()).toEqual([idOf(LAST)]);
    const lists = podLists();
    expect(lists).toHaveLength(3);
    expect(lists.every((r) => r.query.get('limit') === String(PAGE))).toBe(true);
  });

  it('keeps the kills of earlier pages when a later page fails, reports the failure, and the next run finishes', async () => {
    h.sim.kube.oomKill(podOf(FIRST), 'gpu-dev');
    h.sim.kube.oomKill(podOf(LAST), 'gpu-dev');
    h.sim.faults.add({
      method: 'GET',
      path: new RegExp(`^/api/v1/namespaces/${namespace}/pods\\?.*continue=`),
      status: 500,
      count: 1,
    });
    const failed = await h.schedule(oomScan);
    expect(failed.outcome).toBe('failed');
    expect(failed.message).toMatch(/listing pods in fleet-\d+ failed after 10 pods/);
    expect(failed.summary).toMatchObject({ pages: 1, oom_detected: 1, notices_sent: 1 });
    expect(await recorded()).toEqual([idOf(FIRST)]);
    expect(h.sim.kube.readFile(podOf(FIRST), '/home/dev/OOM_DETECTED.txt')).toContain('OOM kills so far: 1');

    // The failed read left the cursor where it was: the next run reads from there.
    const next = await h.schedule(oomScan);
    expect(next.summary).toMatchObject({ pages: 2, oom_detected: 1, pass_completed: 1 });
    expect(await recorded()).toEqual([idOf(FIRST), idOf(LAST)]);
  });

  it('counts only new kills against maxItems, so kills already recorded never hold back later ones', async () => {
    h.sim.kube.oomKill(podOf(FIRST), 'gpu-dev');
    h.sim.kube.oomKill(podOf(LAST), 'gpu-dev');
    // The notice of the kill it recorded still goes out: notices have maxItems of their own.
    expect((await h.schedule(oomScan, { maxItems: 1 })).summary).toMatchObject({
      oom_detected: 1,
      stopped_at_max_items: 1,
      notices_sent: 1,
    });
    expect(await recorded()).toEqual([idOf(FIRST)]);
    // The page that hit the cap is read again; the one before it is not.
    expect((await h.schedule(oomScan, { maxItems: 1 })).summary).toMatchObject({
      oom_detected: 1,
      pages: 1,
      pass_completed: 1,
    });
    expect(await recorded()).toEqual([idOf(FIRST), idOf(LAST)]);
  });

  it('stops reading pages at its deadline, leaving time for the notices of what it recorded', async () => {
    h.sim.kube.oomKill(podOf(FIRST), 'gpu-dev');
    h.sim.kube.oomKill(podOf(LAST), 'gpu-dev');
    const budgetSeconds = h.deps.config.run.budgetSeconds;
    // The first page takes 85% of the budget: past the scan's share, before the run's deadline.
    const run = await scanWith((n) => {
      if (n === 1) h.clock.advanceSeconds(budgetSeconds * 0.85);
    });
    expect(run.summary).toMatchObject({
      pages: 1,
      pods_scanned: PAGE,
      oom_detected: 1,
      stopped_at_deadline: 1,
      notices_sent: 1,
    });
    expect(run.outcome).toBe('succeeded');
    expect(await recorded()).toEqual([idOf(FIRST)]);
    const next = await h.schedule(oomScan);
    expect(next.summary).toMatchObject({ pages: 2, pods_scanned: FLEET - PAGE, oom_detected: 1, pass_completed: 1 });
    expect(await recorded()).toEqual([idOf(FIRST), idOf(LAST)]);
  });

  it('resumes after the same pod when the continue token has expired (410), with the token the refusal carries', async () => {
    h.sim.kube.oomKill(podOf(FIRST), 'gpu-dev');
    h.sim.kube.oomKill(podOf(LAST), 'gpu-dev');
    const run = await scanWith(compactAfterChange);
    expect(run.outcome).toBe('succeeded');
    expect(run.summary).toMatchObject({
      resumed_after_expiry: 2,
      relists: 0,
      pages: 3,
      pods_scanned: FLEET,
      oom_detected: 2,
      pass_completed: 1,
    });
    expect(await recorded()).toEqual([idOf(FIRST), idOf(LAST)]);
  });

  it('lists the namespace again when the continue token has expired (410) and no resume token came, once per run', async () => {
    h.sim.kube.oomKill(podOf(LAST), 'gpu-dev');
    const run = await scanWith((n) => {
      if (n === 1) compactAfterChange();
    }, true);
    expect(run.summary).toMatchObject({ relists: 1, pages: 4, pods_scanned: FLEET + PAGE, oom_detected: 1 });
    expect(await recorded()).toEqual([idOf(LAST)]);
  });

  it('reports a second expiry in one run as a failure and keeps what it recorded', async () => {
    h.sim.kube.oomKill(podOf(FIRST), 'gpu-dev');
    h.sim.kube.oomKill(podOf(LAST), 'gpu-dev');
    const run = await scanWith(compactAfterChange, true);
    expect(run.outcome).toBe('failed');
    expect(run.message).toMatch(/continue token expired twice/);
    expect(run.summary).toMatchObject({ relists: 1, pages: 2, oom_detected: 1 });
    expect(await recorded()).toEqual([idOf(FIRST)]);
  });
});

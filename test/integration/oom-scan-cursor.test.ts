/*
 * oom-scan's durable cursor: a run reads at most OOM_SCAN_PAGES_PER_RUN pages and the next run
 * resumes where it stopped, across namespaces, so a pass over the fleet takes a stated number of
 * runs whatever its size; the pass wraps to the start; a kill on the last page is found within one
 * pass; a dry run moves nothing; a cursor kept past its continue token's life still resumes there.
 * Real client against the simulator, a real database.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { oomScan } from '../../functions/oom-scan/handler.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertReservation } from '../support/fixtures.js';

const PAGE = 10;
const PAGES_PER_RUN = 2;
const h = useFunctionHarness({ OOM_SCAN_PAGE_SIZE: String(PAGE), OOM_SCAN_PAGES_PER_RUN: String(PAGES_PER_RUN) });
// Two namespaces, 3 + 2 pages: a pass takes ceil(5 / 2) = 3 runs.
const fleets = { a: 25, b: 15 };
let round = 0;
let names = { a: '', b: '' };
const podOf = (fleet: 'a' | 'b', i: number) => ({
  namespace: names[fleet],
  name: `gpu-dev-${fleet}${String(i).padStart(4, '0')}`,
});
const idOf = (fleet: 'a' | 'b', i: number) => `${names[fleet]}-${String(i).padStart(4, '0')}`;

beforeEach(async () => {
  await h.deps.pool.query('truncate oom_kills, reservations, oom_scan_cursor cascade');
  round += 1;
  names = { a: `cursor-${round}-a`, b: `cursor-${round}-b` };
  for (const fleet of ['a', 'b'] as const) {
    h.sim.kube.addNamespace(names[fleet]);
    for (let i = 0; i < fleets[fleet]; i++) {
      await insertReservation(h.deps.pool, {
        reservation_id: idOf(fleet, i),
        pod_name: podOf(fleet, i).name,
        namespace: names[fleet],
      });
      h.sim.kube.addPod({ ...podOf(fleet, i), labels: { 'reservation-id': idOf(fleet, i) } });
    }
  }
});

async function recorded(): Promise<string[]> {
  const { rows } = await h.deps.pool.query<{ reservation_id: string }>(
    'select reservation_id from oom_kills order by reservation_id',
  );
  return rows.map((row) => row.reservation_id);
}

async function cursor() {
  const { rows } = await h.deps.pool.query<{
    namespace: string;
    continue_token: string | null;
    passes_completed: number;
  }>('select namespace, continue_token, passes_completed from oom_scan_cursor');
  return rows[0];
}

/** How many pod list calls the simulator served since its request log was cleared. */
function podListCalls(): number {
  return h.sim.requests
    .all()
    .filter((r) => r.method === 'GET' && /^\/api\/v1\/namespaces\/cursor-\d+-[ab]\/pods$/.test(r.path)).length;
}

describe('oom-scan reads a fixed number of pages per run and resumes from its cursor', () => {
  it('covers two namespaces in three runs, finds a kill on the last page, then wraps to the start', async () => {
    h.sim.kube.oomKill(podOf('b', fleets.b - 1), 'gpu-dev');
    const runs = [];
    for (let i = 0; i < 4; i++) {
      h.sim.requests.clear();
      const run = await h.schedule(oomScan);
      runs.push({ ...run.summary, lists: podListCalls() });
    }
    expect(runs[0]).toMatchObject({
      pages: 2,
      pods_scanned: 20,
      stopped_at_page_budget: 1,
      pass_completed: 0,
      oom_detected: 0,
      lists: 2,
    });
    expect(runs[1]).toMatchObject({
      pages: 2,
      pods_scanned: 15,
      stopped_at_page_budget: 1,
      pass_completed: 0,
      oom_detected: 0,
      lists: 2,
    });
    expect(runs[2]).toMatchObject({
      pages: 1,
      pods_scanned: 5,
      pass_completed: 1,
      oom_detected: 1,
      notices_sent: 1,
      lists: 1,
    });
    expect(await recorded()).toEqual([idOf('b', fleets.b - 1)]);
    // The next pass starts over at the first namespace's first page.
    expect(runs[3]).toMatchObject({ pages: 2, pods_scanned: 20, stopped_at_page_budget: 1, oom_detected: 0 });
    expect(await cursor()).toMatchObject({
      namespace: names.a,
      continue_token: expect.any(String),
      passes_completed: 1,
    });
  });

  it('finds a kill made behind the cursor in the next pass, never reading a page twice in one pass', async () => {
    await h.schedule(oomScan);
    h.sim.kube.oomKill(podOf('a', 0), 'gpu-dev');
    const rest = [await h.schedule(oomScan), await h.schedule(oomScan)];
    expect(rest.map((run) => run.summary.oom_detected)).toEqual([0, 0]);
    expect(rest[1]!.summary.pass_completed).toBe(1);
    expect((await h.schedule(oomScan)).summary).toMatchObject({ oom_detected: 1, pages: 2 });
    expect(await recorded()).toEqual([idOf('a', 0)]);
  });

  it('resumes from a cursor whose continue token expired between runs, after the same pod', async () => {
    await h.schedule(oomScan);
    h.sim.kube.addPod({ namespace: 'default', name: `churn-${round}` });
    h.sim.kube.compact();
    h.sim.kube.oomKill(podOf('a', 0), 'gpu-dev');
    h.sim.kube.oomKill(podOf('a', fleets.a - 1), 'gpu-dev');
    const run = await h.schedule(oomScan);
    expect(run.summary).toMatchObject({
      resumed_after_expiry: 1,
      relists: 0,
      pages: 2,
      pods_scanned: 15,
      oom_detected: 1,
    });
    expect(await recorded()).toEqual([idOf('a', fleets.a - 1)]);
  });

  it('moves nothing in a dry run', async () => {
    await h.schedule(oomScan);
    const before = await cursor();
    const dry = await h.schedule(oomScan, { dryRun: true });
    expect(dry.summary).toMatchObject({ pages: 2, pods_scanned: 15 });
    expect(await cursor()).toEqual(before);
  });

  it('starts at the next namespace when the cursor names one with no active reservations left', async () => {
    await h.schedule(oomScan);
    expect((await cursor())?.namespace).toBe(names.a);
    await h.deps.pool.query(`update reservations set status = 'expired' where namespace = $1`, [names.a]);
    h.sim.kube.oomKill(podOf('b', 0), 'gpu-dev');
    const run = await h.schedule(oomScan);
    expect(run.summary).toMatchObject({ pages: 2, pods_scanned: 15, pass_completed: 1, oom_detected: 1 });
  });
});

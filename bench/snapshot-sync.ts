/*
 * snapshot-sync with a long history: thousands of completed snapshots on record and a hundred
 * pending. A scheduled run polls only the pending ones by id, completes them, and deletes their
 * detached volumes; its EC2 calls and SQL statements must follow the pending snapshots, not the
 * history. Shown by comparing 1,000 with 10,000 completed, and 0, 100 and 200 pending. Real EC2
 * client against the simulator, events delivered to a local sink, an embedded PostgreSQL.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { snapshotSync } from '../functions/snapshot-sync/handler.js';
import { pendingSnapshots, shutdownsDue } from '../shared/db/queries/snapshots.js';
import { markRetentionChecked, retentionCandidates, volumesAfterSnapshot } from '../shared/db/queries/disks.js';
import type { Deps } from '../shared/deps.js';
import type { FunctionDefinition } from '../shared/runtime/invocation.js';
import type { BenchContext } from './context.js';
import { median } from './stats.js';
import { explainQuery, indexTable, measureRun, startFunctionBench } from './teardown.js';
import type { FunctionBench, MeasuredRun } from './teardown.js';

const KEEP = 3;

/** Accepts every CloudEvent, as the Knative broker would. */
async function startSink(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(202).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

/**
 * History: `completed` shutdown snapshots of ended reservations (teardowns long done, volumes long
 * decided), KEEP per disk, so retention has nothing to do and every row is only history.
 */
async function seedHistory(bench: FunctionBench, completed: number, perDisk = KEEP): Promise<void> {
  const now = bench.clock.now();
  const params = [now, completed, perDisk];
  const series = `from generate_series(1, $2) g cross join lateral (select $1::timestamptz - (g % 5000 + 1) * interval '1 hour' as t,
    'hist-' || ((g - 1) / $3 + 1) || '@example.com' as user_id, 'vol-f' || lpad(to_hex(g), 16, '0') as volume_id) h`;
  await bench.db.pool.query(
    `insert into disks (user_id, disk_name, snapshot_count, last_snapshot_at)
     select 'hist-' || g || '@example.com', 'home', $3, $1 from generate_series(1, ceil($2::numeric / $3)::int) g`, params);
  await bench.db.pool.query(
    `insert into reservations (reservation_id, user_id, status, created_at, status_changed_at, disk_name, ebs_volume_id)
     select 'hist-r-' || g, h.user_id, 'expired', h.t - interval '3 hours', h.t, 'home', h.volume_id ${series}`, params);
  await bench.db.pool.query(
    `insert into cleanup_progress (reservation_id, step, volume_id, next_attempt_at, started_at, updated_at, completed_at)
     select 'hist-r-' || g, 'done', h.volume_id, h.t, h.t, h.t, h.t ${series}`, params);
  await bench.db.pool.query(
    `insert into snapshots (snapshot_id, kind, reservation_id, volume_id, disk_id, user_id, disk_name, state, size_gb, requested_at,
       started_at, completed_at, counted_on_disk, volume_outcome, volume_outcome_at, updated_at)
     select 'snap-f' || lpad(to_hex(g), 16, '0'), 'shutdown', 'hist-r-' || g, h.volume_id, d.disk_id, h.user_id, 'home', 'completed', 100,
       h.t, h.t, h.t + interval '10 minutes', true, 'deleted', h.t + interval '1 hour', h.t + interval '1 hour'
     ${series} join disks d on d.user_id = h.user_id and d.disk_name = 'home'`, params);
  // Steady state: earlier runs found these disks within the retention count.
  await bench.db.pool.query('update snapshot_retention set checked_keep = $1', [perDisk]);
}

/** Pending shutdown snapshots of ended reservations, each with its disk and its detached volume. */
async function seedPending(bench: FunctionBench, pending: number, serial: number): Promise<void> {
  const now = bench.clock.now();
  for (let i = 0; i < pending; i++) {
    const tag = `${serial}-${i}`;
    const { volumeId } = bench.sim.aws.addVolume({ sizeGiB: 100, tags: { 'gpu-dev-user': `pend-${tag}@example.com`, disk_name: 'home' } });
    const { snapshotId } = bench.sim.aws.addSnapshot({ volumeId, state: 'pending', startTime: now });
    await bench.db.pool.query(
      `with r as (insert into reservations (reservation_id, user_id, status, created_at, status_changed_at, disk_name, ebs_volume_id)
                  values ($1, $2, 'expired', $4::timestamptz - interval '3 hours', $4, 'home', $3) returning reservation_id),
            p as (insert into cleanup_progress (reservation_id, step, volume_id, next_attempt_at, started_at, updated_at, completed_at)
                  select reservation_id, 'done', $3, $4, $4, $4, $4 from r),
            d as (insert into disks (user_id, disk_name, is_backing_up, pending_snapshot_count) values ($2, 'home', true, 1) returning disk_id)
       insert into snapshots (snapshot_id, kind, reservation_id, volume_id, disk_id, user_id, disk_name, state, requested_at, started_at, counted_on_disk, updated_at)
       select $5, 'shutdown', r.reservation_id, $3, d.disk_id, $2, 'home', 'pending', $4, $4, true, $4 from r, d`,
      [`pend-${tag}`, `pend-${tag}@example.com`, volumeId, now, snapshotId],
    );
  }
}

async function reset(bench: FunctionBench): Promise<void> {
  bench.sim.aws.reset();
  await bench.db.pool.query(`truncate snapshots, snapshot_disk_sync, cleanup_progress, disks, reservations, event_inbox,
    event_outbox, decision_log, function_runs cascade`);
  await bench.db.pool.query('analyze');
}

interface Scenario { completed: number; pending: number }

async function measureScenario(bench: FunctionBench, deps: Deps, scenario: Scenario, rounds: number): Promise<MeasuredRun[]> {
  const runs: MeasuredRun[] = [];
  for (let round = 0; round < rounds; round++) {
    await reset(bench);
    await seedHistory(bench, scenario.completed);
    await seedPending(bench, scenario.pending, round);
    await bench.db.pool.query('vacuum analyze');
    bench.clock.advanceSeconds(61); // the simulated snapshots complete after 60 s
    const run = await measureRun(bench, snapshotSync as unknown as FunctionDefinition<never, Deps>, deps, { maxItems: 1000 });
    const summary = run.result.summary;
    if (run.result.outcome !== 'succeeded' || summary.snapshots_completed !== scenario.pending || summary.volumes_deleted !== scenario.pending) {
      throw new Error(`snapshot-sync bench: ${JSON.stringify(run.result)}`);
    }
    runs.push(run);
  }
  return runs;
}

function row(scenario: Scenario, runs: MeasuredRun[]): string {
  const actions = new Map<string, number>();
  const last = runs[runs.length - 1]!;
  for (const call of last.ec2Actions) actions.set(call, (actions.get(call) ?? 0) + 1);
  const byAction = [...actions.entries()].sort().map(([action, n]) => `${action} ${n}`).join(', ') || 'none';
  return `| ${scenario.completed.toLocaleString('en')} | ${scenario.pending} | ${(median(runs.map((r) => r.ms)) / 1000).toFixed(2)} s | ${last.ec2Calls} (${byAction}) | ${last.statements} | ${runs.length} |`;
}

async function plans(bench: FunctionBench, completed: number): Promise<string[]> {
  await reset(bench);
  await seedHistory(bench, completed);
  await seedPending(bench, 100, 99);
  await bench.db.pool.query('vacuum analyze');
  const { pool } = bench.db;
  const now = bench.clock.now();
  return [
    `### Query plans with ${completed.toLocaleString('en')} completed and 100 pending snapshots`,
    '',
    ...indexTable([
      { query: '`pendingSnapshots`: what to poll', index: 'snapshots_pending', plan: await explainQuery(pool, (db) => pendingSnapshots(db, 200)) },
      { query: '`volumesAfterSnapshot`: volumes whose shutdown snapshot completed', index: 'snapshots_volume_due', plan: await explainQuery(pool, (db) => volumesAfterSnapshot(db, 200)) },
      { query: '`shutdownsDue`: the sweep for lost pod.cleaned events', index: 'cleanup_progress_past_snapshot', plan: await explainQuery(pool, (db) => shutdownsDue(db, now, 7, 200)) },
      { query: '`retentionCandidates`: disks with more than 3 completed snapshots', index: 'snapshot_retention_due', plan: await explainQuery(pool, (db) => retentionCandidates(db, KEEP, 200 * (KEEP + 1))) },
      { query: '`markRetentionChecked`: remember the disks found within the count', index: 'snapshot_retention_due', plan: await explainQuery(pool, (db) => markRetentionChecked(db, KEEP)) },
    ]),
  ];
}

const FLEET_DISKS = 10_000;
const FLEET_SNAPSHOTS_PER_DISK = 10;
const FLEET_SOFT_DELETED = 100;

/**
 * The fleet of issue 18 in EC2 as well as in the database: 10,000 disks with 10 completed snapshots
 * each (100,000), every snapshot also in the simulated EC2 under the same id and tags; then what is
 * due: 100 pending shutdown snapshots and 100 disks soft-deleted since the last run, whose snapshots
 * are found by the disk's tags (one DescribeSnapshots per disk) and tagged for deletion.
 */
async function seedFleet(bench: FunctionBench): Promise<void> {
  await seedHistory(bench, FLEET_DISKS * FLEET_SNAPSHOTS_PER_DISK, FLEET_SNAPSHOTS_PER_DISK);
  const { rows } = await bench.db.pool.query<{ snapshot_id: string; volume_id: string; user_id: string }>('select snapshot_id, volume_id, user_id from snapshots');
  for (const row of rows) {
    bench.sim.aws.addSnapshot({ snapshotId: row.snapshot_id, volumeId: row.volume_id, sizeGiB: 100, tags: { 'gpu-dev-user': row.user_id, disk_name: 'home' } });
  }
  await seedPending(bench, 100, 0);
  await bench.db.pool.query(
    `update disks set is_deleted = true, delete_date = ($1::timestamptz + interval '30 days')::date, marked_deleted_at = $1
     where disk_id in (select disk_id from disks where user_id like 'hist-%' order by user_id limit $2)`,
    [bench.clock.now(), FLEET_SOFT_DELETED],
  );
  await bench.db.pool.query('vacuum analyze');
}

/** Peak RSS of this process while `work` runs, sampled every 10 ms. */
async function peakRss<T>(work: () => Promise<T>): Promise<[T, number]> {
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 10);
  try {
    return [await work(), Math.max(peak, process.memoryUsage().rss)];
  } finally {
    clearInterval(sampler);
  }
}

const byAction = (run: MeasuredRun) => {
  const actions = new Map<string, number>();
  for (const call of run.ec2Actions) actions.set(call, (actions.get(call) ?? 0) + 1);
  return [...actions.entries()].sort().map(([action, n]) => `${action} ${n}`).join(', ') || 'none';
};

async function fleetSection(): Promise<string[]> {
  const sink = await startSink();
  const env = { EVENT_DELIVERY: 'knative', K_SINK: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/`, SNAPSHOT_RETENTION_COUNT: String(FLEET_SNAPSHOTS_PER_DISK) };
  const bench = await startFunctionBench('snapshot-sync-fleet', env, { movingClock: true });
  try {
    await seedFleet(bench);
    const deps = bench.deps();
    const budgetSeconds = deps.config.run.budgetSeconds;
    bench.clock.advanceSeconds(61); // the simulated pending snapshots complete after 60 s
    const fn = snapshotSync as unknown as FunctionDefinition<never, Deps>;
    const rows: string[] = [];
    let peak = 0;
    for (const label of ['first run (100 pending snapshots due, 100 disks newly soft-deleted)', 'second run, 60 s later (what the first left)']) {
      const [run, rss] = await peakRss(() => measureRun(bench, fn, deps, { maxItems: 1000 }));
      peak = Math.max(peak, rss);
      const outcome = run.result.outcome === 'succeeded' ? 'succeeded' : `${run.result.outcome}: ${(run.result.message ?? '').slice(0, 200)}`;
      rows.push(`| ${label} | ${(run.ms / 1000).toFixed(2)} s (${budgetSeconds} s) | ${run.ec2Calls} (${byAction(run)}) | ${outcome} | ${run.statements} | ${(rss / 1_048_576).toFixed(0)} MiB |`);
      bench.clock.advanceSeconds(60);
    }
    return [
      `### ${FLEET_DISKS.toLocaleString('en')} disks and ${(FLEET_DISKS * FLEET_SNAPSHOTS_PER_DISK).toLocaleString('en')} snapshots of history, in the database and in EC2`,
      '',
      'As deployed: events delivered (Knative mode, to a local sink), the clock moving in real time during each run, the',
      'simulator over HTTP. Not as deployed: the simulator runs in the benchmark\'s process, so the RSS is the function, the',
      'simulator and its 100,000 snapshots together (an upper bound of the function\'s when within the limit).',
      `Limits: each run within its budget (RUN_BUDGET_SECONDS), no failed call (outcome succeeded), RSS ≤ 128 MiB; EC2 calls follow what is due`,
      '(the pending snapshots, one DescribeSnapshots per newly soft-deleted disk, one CreateTags per snapshot to tag), not the history.',
      '',
      '| run | wall time (budget) | EC2 calls (by action) | outcome | SQL statements | peak RSS |',
      '|---|---|---|---|---|---|',
      ...rows,
      '',
      `Peak RSS over both runs: ${(peak / 1_048_576).toFixed(0)} MiB.`,
      '',
    ];
  } finally {
    await bench.close();
    sink.closeAllConnections();
    await new Promise<void>((resolve) => sink.close(() => resolve()));
  }
}

/** How two scenarios' EC2 calls and statements compare. */
function ratio(label: string, a: MeasuredRun, b: MeasuredRun): string {
  return `| ${label} | ×${(b.ec2Calls / Math.max(1, a.ec2Calls)).toFixed(2)} | ×${(b.statements / a.statements).toFixed(2)} |`;
}

export async function benchSnapshotSync(context: BenchContext): Promise<string[]> {
  const sink = await startSink();
  const bench = await startFunctionBench('snapshot-sync', { EVENT_DELIVERY: 'knative', K_SINK: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/` });
  try {
    const deps = bench.deps();
    const rounds = context.quick ? 1 : 3;
    const scenarios: Scenario[] = [
      { completed: 1_000, pending: 100 }, { completed: 10_000, pending: 100 }, { completed: 10_000, pending: 0 }, { completed: 10_000, pending: 200 },
    ];
    const rows: string[] = [];
    const last: MeasuredRun[] = [];
    for (const scenario of scenarios) {
      const runs = await measureScenario(bench, deps, scenario, rounds);
      rows.push(row(scenario, runs));
      last.push(runs[runs.length - 1]!);
    }
    return [
      'One scheduled snapshot-sync run (every stage) after the pending snapshots completed in the simulated EC2; each completion',
      'updates its disk, writes snapshot.completed to the outbox (delivered to a local sink), and the detached volume is deleted.',
      'SQL statements include BEGIN/COMMIT and the run bookkeeping (runs table, single-flight lock, outbox).',
      '',
      '| completed on record | pending | wall time (median) | EC2 calls (by action) | SQL statements | runs |',
      '|---|---|---|---|---|---|',
      ...rows,
      '',
      '| change | EC2 calls | SQL statements |',
      '|---|---|---|',
      ratio('10× the history (1,000 → 10,000 completed, 100 pending)', last[0]!, last[1]!),
      ratio('2× the pending (100 → 200, 10,000 completed)', last[1]!, last[3]!),
      '',
      ...(await plans(bench, context.quick ? 10_000 : 100_000)),
      ...(await fleetSection()),
    ];
  } finally {
    await bench.close();
    sink.closeAllConnections();
    await new Promise<void>((resolve) => sink.close(() => resolve()));
  }
}

/*
 * snapshot-sync with a long history: thousands of completed snapshots on record and a hundred
 * pending. A scheduled run polls only the pending ones by id, completes them, and deletes their
 * detached volumes; its EC2 calls and SQL statements must follow the pending snapshots, not the
 * history. Shown by comparing 1,000 with 10,000 completed, and 0, 100 and 200 pending. Real EC2
 * client against the simulator, events delivered to a local sink, an embedded PostgreSQL.
 *
 * Then the fleet of issue 18 (10,000 disks, 100,000 snapshots), as deployed: the simulator in a
 * process of its own (bench/snapshot-sync-sim.ts), the function bundled in another
 * (bench/snapshot-sync-run.ts), so the peak RSS reported is the function's alone.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { snapshotSync } from '../functions/snapshot-sync/handler.js';
import { pendingSnapshots, shutdownsDue } from '../shared/db/queries/snapshots.js';
import { markRetentionChecked, retentionCandidates, volumesAfterSnapshot } from '../shared/db/queries/disks.js';
import type { Deps } from '../shared/deps.js';
import type { FunctionDefinition } from '../shared/runtime/invocation.js';
import { systemClock } from '../shared/clock.js';
import { loadConfig } from '../shared/config.js';
import type { BenchContext } from './context.js';
import { startBenchDatabase } from './database.js';
import type { BenchDatabase } from './database.js';
import type { RunFigures as SyncRunFigures, RunRequest as SyncRunRequest } from './function-process.js';
import type { SeededPending, SyncSimCommand, SyncSimStats } from './snapshot-sync-sim.js';
import { bundleWorker, deployedNodeOptions, functionNodeNote, startWorker } from './workers.js';
import type { Worker } from './workers.js';
import { median } from './stats.js';
import { explainQuery, indexTable, measureRun, startFunctionBench } from './teardown.js';
import type { FunctionBench, MeasuredRun } from './teardown.js';
import { simProductEnv } from '../sim/product-env.js';
import { startSink, sinkUrl } from './sink.js';

const KEEP = 3;

/**
 * History: `completed` shutdown snapshots of ended reservations (teardowns long done, volumes long
 * decided), KEEP per disk, so retention has nothing to do and every row is only history.
 */
async function seedHistory(pool: pg.Pool, now: Date, completed: number, perDisk = KEEP): Promise<void> {
  const params = [now, completed, perDisk];
  const series = `from generate_series(1, $2) g cross join lateral (select $1::timestamptz - (g % 5000 + 1) * interval '1 hour' as t,
    'hist-' || ((g - 1) / $3 + 1) || '@example.com' as user_id, 'vol-f' || lpad(to_hex(g), 16, '0') as volume_id) h`;
  await pool.query(
    `insert into disks (user_id, disk_name, snapshot_count, last_snapshot_at)
     select 'hist-' || g || '@example.com', 'home', $3, $1 from generate_series(1, ceil($2::numeric / $3)::int) g`,
    params,
  );
  await pool.query(
    `insert into reservations (reservation_id, user_id, status, created_at, status_changed_at, disk_name, ebs_volume_id)
     select 'hist-r-' || g, h.user_id, 'expired', h.t - interval '3 hours', h.t, 'home', h.volume_id ${series}`,
    params,
  );
  await pool.query(
    `insert into cleanup_progress (reservation_id, step, volume_id, next_attempt_at, started_at, updated_at, completed_at)
     select 'hist-r-' || g, 'done', h.volume_id, h.t, h.t, h.t, h.t ${series}`,
    params,
  );
  await pool.query(
    `insert into snapshots (snapshot_id, kind, reservation_id, volume_id, disk_id, user_id, disk_name, state, size_gb, requested_at,
       started_at, completed_at, counted_on_disk, volume_outcome, volume_outcome_at, updated_at)
     select 'snap-f' || lpad(to_hex(g), 16, '0'), 'shutdown', 'hist-r-' || g, h.volume_id, d.disk_id, h.user_id, 'home', 'completed', 100,
       h.t, h.t, h.t + interval '10 minutes', true, 'deleted', h.t + interval '1 hour', h.t + interval '1 hour'
     ${series} join disks d on d.user_id = h.user_id and d.disk_name = 'home'`,
    params,
  );
  // Steady state: earlier runs found these disks within the retention count.
  await pool.query('update snapshot_retention set checked_keep = $1', [perDisk]);
}

/** Pending shutdown snapshots of ended reservations, each with its disk and its detached volume. */
async function seedPending(bench: FunctionBench, pending: number, serial: number): Promise<void> {
  const now = bench.clock.now();
  for (let i = 0; i < pending; i++) {
    const tag = `${serial}-${i}`;
    const { volumeId } = bench.sim.aws.addVolume({
      sizeGiB: 100,
      tags: { 'gpu-dev-user': `pend-${tag}@example.com`, disk_name: 'home' },
    });
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

interface Scenario {
  completed: number;
  pending: number;
}

async function measureScenario(
  bench: FunctionBench,
  deps: Deps,
  scenario: Scenario,
  rounds: number,
): Promise<MeasuredRun[]> {
  const runs: MeasuredRun[] = [];
  for (let round = 0; round < rounds; round++) {
    await reset(bench);
    await seedHistory(bench.db.pool, bench.clock.now(), scenario.completed);
    await seedPending(bench, scenario.pending, round);
    await bench.db.pool.query('vacuum analyze');
    bench.clock.advanceSeconds(61); // the simulated snapshots complete after 60 s
    const run = await measureRun(bench, snapshotSync as unknown as FunctionDefinition<never, Deps>, deps, {
      maxItems: 1000,
    });
    const summary = run.result.summary;
    if (
      run.result.outcome !== 'succeeded' ||
      summary.snapshots_completed !== scenario.pending ||
      summary.volumes_deleted !== scenario.pending
    ) {
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
  const byAction =
    [...actions.entries()]
      .sort()
      .map(([action, n]) => `${action} ${n}`)
      .join(', ') || 'none';
  return `| ${scenario.completed.toLocaleString('en')} | ${scenario.pending} | ${(median(runs.map((r) => r.ms)) / 1000).toFixed(2)} s | ${last.ec2Calls} (${byAction}) | ${last.statements} | ${runs.length} |`;
}

async function plans(bench: FunctionBench, completed: number): Promise<string[]> {
  await reset(bench);
  await seedHistory(bench.db.pool, bench.clock.now(), completed);
  await seedPending(bench, 100, 99);
  await bench.db.pool.query('vacuum analyze');
  const { pool } = bench.db;
  const now = bench.clock.now();
  return [
    `### Query plans with ${completed.toLocaleString('en')} completed and 100 pending snapshots`,
    '',
    ...indexTable([
      {
        query: '`pendingSnapshots`: what to poll',
        index: 'snapshots_pending',
        plan: await explainQuery(pool, (db) => pendingSnapshots(db, 200)),
      },
      {
        query: '`volumesAfterSnapshot`: volumes whose shutdown snapshot completed',
        index: 'snapshots_volume_due',
        plan: await explainQuery(pool, (db) => volumesAfterSnapshot(db, 200)),
      },
      {
        query: '`shutdownsDue`: the sweep for lost pod.cleaned events',
        index: 'cleanup_progress_past_snapshot',
        plan: await explainQuery(pool, (db) => shutdownsDue(db, now, 7, 200)),
      },
      {
        query: '`retentionCandidates`: disks with more than 3 completed snapshots',
        index: 'snapshot_retention_due',
        plan: await explainQuery(pool, (db) => retentionCandidates(db, KEEP, 200 * (KEEP + 1))),
      },
      {
        query: '`markRetentionChecked`: remember the disks found within the count',
        index: 'snapshot_retention_due',
        plan: await explainQuery(pool, (db) => markRetentionChecked(db, KEEP)),
      },
    ]),
  ];
}

const FLEET_DISKS = 10_000;
const FLEET_SNAPSHOTS_PER_DISK = 10;
const FLEET_SOFT_DELETED = 100;
const FLEET_PENDING = 100;
const MEMORY_LIMIT_MIB = 128;

type SimWorker = Worker<SyncSimCommand, { stats?: SyncSimStats; pending?: SeededPending[] }>;
type FunctionWorker = Worker<Omit<SyncRunRequest, 'id'>, { figures: SyncRunFigures }>;

/** The pending snapshots' rows: each with its ended reservation, finished teardown and disk. */
async function seedPendingRows(pool: pg.Pool, now: Date, pending: SeededPending[]): Promise<void> {
  await pool.query(
    `with p as (select * from jsonb_to_recordset($1::jsonb) as p("volumeId" text, "snapshotId" text, "userId" text)),
          r as (insert into reservations (reservation_id, user_id, status, created_at, status_changed_at, disk_name, ebs_volume_id)
                select 'r-' || "userId", "userId", 'expired', $2::timestamptz - interval '3 hours', $2, 'home', "volumeId" from p
                returning reservation_id, user_id),
          c as (insert into cleanup_progress (reservation_id, step, volume_id, next_attempt_at, started_at, updated_at, completed_at)
                select 'r-' || "userId", 'done', "volumeId", $2, $2, $2, $2 from p),
          d as (insert into disks (user_id, disk_name, is_backing_up, pending_snapshot_count)
                select "userId", 'home', true, 1 from p returning disk_id, user_id)
     insert into snapshots (snapshot_id, kind, reservation_id, volume_id, disk_id, user_id, disk_name, state, requested_at, started_at, counted_on_disk, updated_at)
     select p."snapshotId", 'shutdown', r.reservation_id, p."volumeId", d.disk_id, p."userId", 'home', 'pending', $2, $2, true, $2
     from p join r on r.user_id = p."userId" join d on d.user_id = p."userId"`,
    [JSON.stringify(pending), now],
  );
}

/**
 * The fleet of issue 18 in EC2 as well as in the database: 10,000 disks with 10 completed snapshots
 * each (100,000), every snapshot also in the simulated EC2 under the same id and tags; then what is
 * due: 100 pending shutdown snapshots (started 61 s ago, so complete) and 100 disks soft-deleted
 * since the last run, whose snapshots are found by the disk's tags and tagged for deletion.
 */
async function seedFleet(db: BenchDatabase, sim: SimWorker, now: Date): Promise<void> {
  const history = FLEET_DISKS * FLEET_SNAPSHOTS_PER_DISK;
  await Promise.all([
    sim.ask({ type: 'seed-history', count: history, perDisk: FLEET_SNAPSHOTS_PER_DISK }),
    seedHistory(db.pool, now, history, FLEET_SNAPSHOTS_PER_DISK),
  ]);
  const { pending } = await sim.ask({ type: 'seed-pending', count: FLEET_PENDING, serial: 0, startedSecondsAgo: 61 });
  await seedPendingRows(db.pool, now, pending ?? []);
  await db.pool.query(
    `update disks set is_deleted = true, delete_date = ($1::timestamptz + interval '30 days')::date, marked_deleted_at = $1
     where disk_id in (select disk_id from disks where user_id like 'hist-%' order by user_id limit $2)`,
    [now, FLEET_SOFT_DELETED],
  );
  await db.pool.query('vacuum analyze');
}

const byAction = (calls: Record<string, number>) =>
  Object.entries(calls)
    .sort()
    .map(([action, n]) => `${action} ${n}`)
    .join(', ') || 'none';
const total = (calls: Record<string, number>) => Object.values(calls).reduce((sum, n) => sum + n, 0);

async function fleetSection(): Promise<string[]> {
  const sink = await startSink();
  const db = await startBenchDatabase('snapshot-sync-fleet');
  const sim: SimWorker = await startWorker('./snapshot-sync-sim.ts');
  const outdir = await mkdtemp(join(tmpdir(), 'snapshot-sync-bench-'));
  const flags = deployedNodeOptions('snapshot-sync');
  let fn: FunctionWorker | undefined;
  try {
    const { url, token } = sim.ready as { url: string; token: string };
    await seedFleet(db, sim, systemClock.now());
    fn = await startWorker(await bundleWorker('snapshot-sync-run', outdir), flags);
    const env = {
      DATABASE_URL: db.url,
      ...simProductEnv({ url, token }),
      SECRETS_DIR: '/nonexistent',
      EVENT_DELIVERY: 'knative',
      K_SINK: sinkUrl(sink),
      SNAPSHOT_RETENTION_COUNT: String(FLEET_SNAPSHOTS_PER_DISK),
      // 100 volume deletions in one run against a fleet with no active reservation: the breaker would halt them.
      BREAKER_MIN_ACTIONS: '1000',
    };
    const budgetSeconds = loadConfig(env).run.budgetSeconds;
    const simSeeded = (await sim.ask({ type: 'stats' })).stats!;
    let simCpuMs = simSeeded.cpuMs;
    const rows: string[] = [];
    let peak = 0;
    for (const label of [
      `first run (${FLEET_PENDING} pending snapshots due, ${FLEET_SOFT_DELETED} disks newly soft-deleted)`,
      'second run (what the first left)',
    ]) {
      const { figures } = await fn.ask({ env, maxItems: 1000 });
      const { ec2Calls, cpuMs } = (await sim.ask({ type: 'stats' })).stats!;
      const simRunMs = cpuMs - simCpuMs;
      simCpuMs = cpuMs;
      peak = Math.max(peak, figures.rssPeakMiB);
      const outcome =
        figures.result.outcome === 'succeeded'
          ? 'succeeded'
          : `${figures.result.outcome}: ${(figures.result.message ?? '').slice(0, 200)}`;
      rows.push(
        `| ${label} | ${(figures.ms / 1000).toFixed(2)} s (${budgetSeconds} s) | ${(figures.cpuMs / 1000).toFixed(2)} s | ${total(ec2Calls)} (${byAction(ec2Calls)}) | ${outcome} | ${figures.rssPeakMiB.toFixed(0)} MiB (${figures.rssBeforeMiB.toFixed(0)} before) | ${figures.heapPeakMiB.toFixed(0)} MiB | ${(simRunMs / 1000).toFixed(1)} s |`,
      );
    }
    return [
      `### ${FLEET_DISKS.toLocaleString('en')} disks and ${(FLEET_DISKS * FLEET_SNAPSHOTS_PER_DISK).toLocaleString('en')} snapshots of history, in the database and in EC2`,
      '',
      `As deployed: the simulator is its own process (holding the ${(FLEET_DISKS * FLEET_SNAPSHOTS_PER_DISK).toLocaleString('en')} snapshots in ${simSeeded.rssMiB.toFixed(0)} MiB), reached over HTTP`,
      'by the real EC2 client; the function is another process (a warm instance serving both runs, bundled by esbuild as',
      `build/bundle.ts does and started with plain node and the manifests' NODE_OPTIONS, \`${flags.join(' ')}\`, read from stack.yml),`,
      'on the system clock (its stop point at 80% of the budget bites),',
      'events delivered (Knative mode, to a local sink), against the embedded PostgreSQL. BREAKER_MIN_ACTIONS=1000: the fleet has no',
      'active reservation, so the blast-radius breaker would otherwise halt the 100 volume deletions.',
      `Limits: each run within its budget (RUN_BUDGET_SECONDS), no failed call (outcome succeeded), the function's peak RSS ≤ ${MEMORY_LIMIT_MIB} MiB;`,
      'EC2 calls follow what is due (the pending snapshots, one DescribeSnapshots per newly soft-deleted disk, CreateTags per 100 snapshots), not the history.',
      'CPU and peak RSS (sampled every 10 ms) are the function process\'s; "simulator CPU" is the simulator process\'s over the same run. Single runs.',
      `The ${functionNodeNote()}.`,
      '',
      '| run | wall time (budget) | CPU | EC2 calls (by action) | outcome | peak RSS | peak V8 heap used | simulator CPU |',
      '|---|---|---|---|---|---|---|---|',
      ...rows,
      '',
      `The function's peak RSS over both runs: ${peak.toFixed(0)} MiB against ${MEMORY_LIMIT_MIB} MiB (${peak <= MEMORY_LIMIT_MIB ? 'met' : 'not met'}).`,
      '',
    ];
  } finally {
    fn?.stop();
    sim.stop();
    await rm(outdir, { recursive: true, force: true });
    await db.stop();
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
  // Up to 200 volume deletions in a run over a fleet with no active reservation: the breaker would halt them.
  const env = {
    EVENT_DELIVERY: 'knative',
    K_SINK: sinkUrl(sink),
    BREAKER_MIN_ACTIONS: '1000',
  };
  const bench = await startFunctionBench('snapshot-sync', env);
  try {
    const deps = bench.deps();
    const rounds = context.quick ? 1 : 3;
    const scenarios: Scenario[] = [
      { completed: 1_000, pending: 100 },
      { completed: 10_000, pending: 100 },
      { completed: 10_000, pending: 0 },
      { completed: 10_000, pending: 200 },
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

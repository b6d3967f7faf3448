/*
 * cleanup-pod at fleet scale: one sweep that tears down 500 ended reservations (runs that delete,
 * read the pods back after their grace period — in the same run when its budget allows — wait for
 * detach, request snapshots, release disks and verify), with the calls it makes per reservation; throughput with every simulated call held
 * 20 ms, at concurrency 1 and at the configured concurrency; and the plans of the sweep's queries
 * over a large reservations table. Real clients, the simulator over HTTP, a real PostgreSQL.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pg from 'pg';
import { cleanupPod } from '../functions/cleanup-pod/handler.js';
import { ManualClock } from '../shared/clock.js';
import { loadConfig } from '../shared/config.js';
import { claimTeardowns, endedWithoutTeardown, startTeardowns } from '../shared/db/queries/cleanup.js';
import type { Db } from '../shared/db/pool.js';
import { makeDeps } from '../shared/deps.js';
import type { Deps } from '../shared/deps.js';
import { createLogger } from '../shared/log.js';
import type { FunctionDefinition, RunResult } from '../shared/runtime/invocation.js';
import { startSim } from '../sim/server.js';
import type { Sim } from '../sim/server.js';
import { startBenchDatabase } from './database.js';
import type { BenchDatabase } from './database.js';
import type { BenchContext } from './context.js';
import { median } from './stats.js';

let statements = 0;
const clientQuery = pg.Client.prototype.query;
// Every SQL statement any pool client sends (BEGIN and COMMIT included), for per-run counts.
pg.Client.prototype.query = function countedQuery(this: pg.Client, ...args: unknown[]) {
  statements += 1;
  return (clientQuery as (...a: unknown[]) => unknown).apply(this, args);
} as typeof pg.Client.prototype.query;

export interface FunctionBench {
  db: BenchDatabase;
  sim: Sim;
  clock: ManualClock;
  /** Deps for the given extra environment (e.g. CONCURRENCY), sharing the database and simulator. */
  deps(env?: Record<string, string>): Deps;
  close(): Promise<void>;
}

export interface MeasuredRun {
  result: RunResult;
  ms: number;
  /** The run's duration by the benchmark's clock: its wall time plus any wait it skipped ahead (0 on a frozen clock). */
  clockMs: number;
  statements: number;
  kubeCalls: number;
  ec2Calls: number;
  lambdaCalls: number;
  /** The EC2 actions called, in order. */
  ec2Actions: string[];
}

const silent = createLogger({
  level: 'silent',
  hashSalt: 'bench',
  destination: new Writable({ write: (_c, _e, done) => done() }),
});

/**
 * Real time from the benchmark's calendar start, plus what the benchmark skips ahead (a grace
 * period between runs): a run's deadline passes during the run, as it would deployed.
 */
export class MovingClock extends ManualClock {
  private readonly origin = performance.now();
  /** Called after a wait skipped ahead: the simulator ends the grace periods that passed. */
  onSkip?: () => void;

  override now(): Date {
    return new Date(super.now().getTime() + (performance.now() - this.origin));
  }

  /**
   * A run's wait (for the grace period of the pods it deleted) skips ahead instead of sleeping, as
   * the benchmark skips the grace period between runs: the run's budget counts the wait, its wall
   * time does not.
   */
  async waitUntil(at: Date): Promise<void> {
    const ahead = at.getTime() - this.now().getTime();
    if (ahead > 0) this.advanceSeconds(ahead / 1000);
    this.onSkip?.();
  }
}

/** A migrated database, the simulator on a ManualClock (or a moving one), and deps built as the functions get them. */
export async function startFunctionBench(
  name: string,
  baseEnv: Record<string, string> = {},
  options: { movingClock?: boolean } = {},
): Promise<FunctionBench> {
  const db = await startBenchDatabase(name);
  const clock = options.movingClock ? new MovingClock('2026-06-01T12:00:00Z') : new ManualClock('2026-06-01T12:00:00Z');
  const sim = await startSim({ clock });
  if (clock instanceof MovingClock) clock.onSkip = () => sim.kube.tick();
  const built: Deps[] = [];
  return {
    db,
    sim,
    clock,
    deps: (env = {}) => {
      const config = loadConfig({
        DATABASE_URL: db.url,
        KUBE_API_SERVER: sim.url,
        KUBE_TOKEN: sim.token,
        AWS_ENDPOINT_URL: sim.url,
        AWS_ACCESS_KEY_ID: 'AKIDBENCH',
        AWS_SECRET_ACCESS_KEY: 'bench',
        AWS_REGION: 'us-east-1',
        // The benchmark's clock keeps its own time: clock sanity off.
        EVENT_DELIVERY: 'none',
        SECRETS_DIR: '/nonexistent',
        CLOCK_SKEW_MAX_SECONDS: '0',
        ...baseEnv,
        ...env,
      });
      const deps = makeDeps(config, { clock, log: silent, pool: db.pool });
      built.push(deps);
      return deps;
    },
    close: async () => {
      for (const deps of built) await deps.close();
      await sim.close();
      await db.stop();
    },
  };
}

/** One scheduled run (a cron-connector tick), with its wall time, statements and simulator calls. */
export async function measureRun(
  bench: FunctionBench,
  fn: FunctionDefinition<never, Deps>,
  deps: Deps,
  options: Record<string, unknown>,
): Promise<MeasuredRun> {
  bench.sim.requests.clear();
  bench.sim.aws.clear();
  const before = statements;
  const clockStart = bench.clock.now().getTime();
  const started = process.hrtime.bigint();
  const parsed = fn.optionsSchema.parse(options);
  const result = await fn.handle(
    { kind: 'schedule', source: 'cron-connector', callId: randomUUID(), options: parsed },
    deps,
  );
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const calls = bench.sim.aws.calls();
  return {
    result,
    ms,
    clockMs: bench.clock.now().getTime() - clockStart,
    statements: statements - before,
    kubeCalls: bench.sim.requests.all().filter((request) => /^\/(api|apis)\//.test(request.path)).length,
    ec2Calls: calls.filter((call) => call.service === 'ec2').length,
    lambdaCalls: calls.filter((call) => call.service === 'lambda').length,
    ec2Actions: calls.filter((call) => call.service === 'ec2').map((call) => call.action),
  };
}

/** EXPLAIN (ANALYZE, BUFFERS) of exactly the statement a query function sends, rolled back after. */
export async function explainQuery(pool: pg.Pool, send: (db: Db) => Promise<unknown>): Promise<string[]> {
  let captured: { text: string; values: unknown[] } | undefined;
  await send({
    query: async (text: string, values: unknown[] = []) => {
      captured ??= { text, values };
      return { rows: [], rowCount: 0 } as never;
    },
  });
  const client = await pool.connect();
  try {
    await client.query('begin');
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(
      `explain (analyze, buffers, costs off, timing off, summary on) ${captured!.text}`,
      captured!.values,
    );
    return rows.map((row) => row['QUERY PLAN']);
  } finally {
    await client.query('rollback');
    client.release();
  }
}

const planBlock = (title: string, plan: string[]) => [`${title}:`, '', '```', ...plan, '```', ''];

/** Whether each plan reads the index its query was written for, as a table above the plans. */
export function indexTable(checks: { query: string; index: string; plan: string[] }[]): string[] {
  return [
    '| query | intended index | used |',
    '|---|---|---|',
    ...checks.map(
      (c) =>
        `| ${c.query} | \`${c.index}\` | ${c.plan.some((line) => new RegExp(`\\b${c.index}\\b`).test(line)) ? 'yes' : '**no**'} |`,
    ),
    '',
    ...checks.flatMap((c) => planBlock(c.query, c.plan)),
  ];
}

const UPDATER = 'gpu-dev-availability-updater';

/** Ended reservations with a labelled pod (mounting its volume), `<pod>-ssh`, a labelled service, a held disk. */
let seeded = 0;

async function seedEnded(bench: FunctionBench, prefix: string, count: number): Promise<string[]> {
  if (!/^[a-z0-9]{4}$/.test(prefix)) throw new Error(`seedEnded: prefix must be 4 characters, got ${prefix}`);
  const ids = Array.from(
    { length: count },
    (_, i) => `${prefix}${String(i).padStart(4, '0')}-0000-4000-8000-000000000000`,
  );
  await bench.db.pool.query(
    `with ids as (select id, ord from unnest($1::text[]) with ordinality as t(id, ord))
     insert into reservations (reservation_id, user_id, status, created_at, status_changed_at, pod_name, namespace, disk_name, ebs_volume_id)
     select id, 'user-' || left(id, 8) || '@example.com', 'expired', $2::timestamptz - interval '3 hours', $2, 'gpu-dev-' || left(id, 8),
       'gpu-dev', 'home', 'vol-' || lpad(to_hex($3::bigint + ord), 17, '0') from ids`,
    [ids, bench.clock.now(), seeded],
  );
  seeded += count;
  await bench.db.pool.query(
    `insert into disks (user_id, disk_name, in_use, reservation_id, ebs_volume_id)
     select user_id, disk_name, true, reservation_id, ebs_volume_id from reservations where reservation_id = any($1::text[])`,
    [ids],
  );
  const { rows } = await bench.db.pool.query<{ reservation_id: string; pod_name: string; ebs_volume_id: string }>(
    'select reservation_id, pod_name, ebs_volume_id from reservations where reservation_id = any($1::text[])',
    [ids],
  );
  for (const row of rows) {
    bench.sim.kube.addPod({
      name: row.pod_name,
      namespace: 'gpu-dev',
      labels: { 'reservation-id': row.reservation_id },
      volumes: [{ name: 'home', awsElasticBlockStore: { volumeID: row.ebs_volume_id } }],
    });
    bench.sim.kube.addService({ name: `${row.pod_name}-ssh`, namespace: 'gpu-dev', type: 'NodePort' });
    bench.sim.kube.addService({
      name: `${row.pod_name}-web`,
      namespace: 'gpu-dev',
      labels: { 'reservation-id': row.reservation_id },
    });
    bench.sim.aws.addVolume({ volumeId: row.ebs_volume_id, sizeGiB: 100, attachedTo: row.pod_name });
  }
  return ids;
}

/**
 * The delete run, the grace period, then the run that finishes the teardowns. Teardowns neither
 * run finished (still retrying, e.g. a call that timed out under load) are a figure, not a
 * failure of the benchmark: they are counted and reported with the run.
 */
async function tearDown(bench: FunctionBench, deps: Deps, count: number): Promise<[MeasuredRun, MeasuredRun, number]> {
  const fn = cleanupPod as unknown as FunctionDefinition<never, Deps>;
  const first = await measureRun(bench, fn, deps, { maxItems: count });
  bench.clock.advanceSeconds(31);
  bench.sim.kube.tick();
  const second = await measureRun(bench, fn, deps, { maxItems: count });
  bench.clock.advanceSeconds(60);
  // A teardown may finish in either run (a run reads back the pods it deleted when it can wait).
  const cleaned = (first.result.summary.cleaned ?? 0) + (second.result.summary.cleaned ?? 0);
  return [first, second, count - cleaned];
}

const perReservation = (
  runs: MeasuredRun[],
  key: 'kubeCalls' | 'ec2Calls' | 'lambdaCalls' | 'statements',
  count: number,
) => String(Number((runs.reduce((sum, run) => sum + run[key], 0) / count).toFixed(3)));

const HISTORY_DISKS = 10_000;
const HISTORY_SNAPSHOTS = 100_000;

/**
 * History a sweep must not pay for: 10,000 other disks (their volumes in EC2, available and
 * tagged) and 100,000 completed snapshots of them in EC2.
 */
async function seedHistory(bench: FunctionBench): Promise<void> {
  const hex = (prefix: string, n: number) => `${prefix}${n.toString(16).padStart(16, '0')}`;
  await bench.db.pool.query(
    `insert into disks (user_id, disk_name, in_use, ebs_volume_id, snapshot_count)
     select 'hist-' || g || '@example.com', 'home', false, 'vol-e' || lpad(to_hex(g), 16, '0'), 10 from generate_series(1, $1) g`,
    [HISTORY_DISKS],
  );
  for (let d = 1; d <= HISTORY_DISKS; d++) {
    bench.sim.aws.addVolume({
      volumeId: hex('vol-e', d),
      sizeGiB: 100,
      tags: { 'gpu-dev-user': `hist-${d}@example.com`, disk_name: 'home' },
    });
  }
  for (let n = 1; n <= HISTORY_SNAPSHOTS; n++) {
    const d = (n % HISTORY_DISKS) + 1;
    bench.sim.aws.addSnapshot({
      snapshotId: hex('snap-e', n),
      volumeId: hex('vol-e', d),
      tags: { 'gpu-dev-user': `hist-${d}@example.com`, disk_name: 'home' },
    });
  }
  await bench.db.pool.query('vacuum analyze disks');
}

/** Peak RSS of this process while `work` runs, sampled every 10 ms. */
async function peakRss<T>(work: () => Promise<T>): Promise<[T, number]> {
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  try {
    const result = await work();
    return [result, Math.max(peak, process.memoryUsage().rss)];
  } finally {
    clearInterval(sampler);
  }
}

const mib = (bytes: number) => `${(bytes / 1_048_576).toFixed(0)} MiB`;

/** Runs 31 s apart (the pods' grace period) until every teardown is done, or 12 runs. */
async function tearDownFully(bench: FunctionBench, deps: Deps, count: number): Promise<MeasuredRun[]> {
  const fn = cleanupPod as unknown as FunctionDefinition<never, Deps>;
  const runs: MeasuredRun[] = [];
  let cleaned = 0;
  while (cleaned < count && runs.length < 12) {
    const run = await measureRun(bench, fn, deps, { maxItems: count });
    runs.push(run);
    cleaned += run.result.summary.cleaned ?? 0;
    bench.clock.advanceSeconds(31);
    bench.sim.kube.tick();
  }
  return runs;
}

async function sweepTable(bench: FunctionBench, count: number): Promise<string[]> {
  const deps = bench.deps();
  const rssBefore = process.memoryUsage().rss;
  const [runs, rssPeak] = await peakRss(() => tearDownFully(bench, deps, count));
  const cleaned = runs.reduce((sum, run) => sum + (run.result.summary.cleaned ?? 0), 0);
  const retrying = count - cleaned;
  const concurrency = deps.config.run.concurrency;
  const budgetSeconds = deps.config.run.budgetSeconds;
  const describeVolumes = runs.reduce(
    (sum, run) => sum + run.ec2Actions.filter((action) => action === 'DescribeVolumes').length,
    0,
  );
  const kubePer = Number(perReservation(runs, 'kubeCalls', count));
  const sqlPer = Number(perReservation(runs, 'statements', count));
  // By the run's clock: its waits for the pods' grace period count, though the benchmark skips them.
  const longest = Math.max(...runs.map((run) => Math.max(run.ms, run.clockMs)));
  return [
    `### One sweep over ${count} ended reservations, with ${HISTORY_DISKS.toLocaleString('en')} other disks and ${HISTORY_SNAPSHOTS.toLocaleString('en')} snapshots of history (concurrency ${concurrency})`,
    '',
    'As deployed: events delivered (Knative mode, to a local sink that accepts them), the clock moving in real time during',
    "each run (plus 31 s skipped between the runs, and a run's own wait, for the pods' grace period), the simulator over HTTP; a",
    'run delivers its events until its deadline and leaves the rest to the next run. Not as deployed: the',
    "simulator runs in the benchmark's process, so the peak RSS below is the function, the simulator and its history together.",
    '',
    'Runs follow each other 31 s apart (the grace period) until every teardown is done; a run starts no group of 50 after',
    "80% of its budget, so under load the sweep takes more runs. Per reservation: all the runs' calls over the reservations.",
    '',
    `Teardowns done: ${cleaned} of ${count} after ${runs.length} runs (not done: ${retrying}).`,
    '',
    '| run | teardowns done | wall time (budget) | Kubernetes calls | EC2 calls | Lambda calls | SQL statements |',
    '|---|---|---|---|---|---|---|',
    ...runs.map(
      (r, i) =>
        `| ${i + 1} | ${r.result.summary.cleaned ?? 0} | ${(r.ms / 1000).toFixed(2)} s (${budgetSeconds} s) | ${r.kubeCalls} | ${r.ec2Calls} | ${r.lambdaCalls} | ${r.statements} |`,
    ),
    `| **per reservation** | | ${(runs.reduce((sum, r) => sum + r.ms, 0) / count).toFixed(1)} ms | ${kubePer} | ${perReservation(runs, 'ec2Calls', count)} | ${perReservation(runs, 'lambdaCalls', count)} | ${sqlPer} |`,
    '',
    '| figure | measured | limit | within |',
    '|---|---|---|---|',
    `| Kubernetes calls per reservation | ${kubePer} | ≤ 6 | ${kubePer <= 6 ? 'yes' : '**no**'} |`,
    `| SQL statements per reservation (BEGIN/COMMIT, run bookkeeping and outbox delivery included) | ${sqlPer} | ≤ 4 | ${sqlPer <= 4 ? 'yes' : '**no**'} |`,
    `| DescribeVolumes calls for the sweep (${count} volumes, all runs) | ${describeVolumes} | ⌈${count} / 200⌉ = ${Math.ceil(count / 200)} | ${describeVolumes <= Math.ceil(count / 200) ? 'yes' : '**no**'} |`,
    `| longest run (by its clock, waits included) | ${(longest / 1000).toFixed(2)} s | ${budgetSeconds} s (RUN_BUDGET_SECONDS) | ${longest <= budgetSeconds * 1000 ? 'yes' : '**no**'} |`,
    `| peak RSS of the process during the runs (function + in-process simulator with its history; ${mib(rssBefore)} before) | ${mib(rssPeak)} | ≤ 128 MiB for the function | ${rssPeak <= 128 * 1_048_576 ? 'yes (bounds the function alone)' : 'not shown: the simulator shares the process'} |`,
    '',
  ];
}

async function latencyTable(bench: FunctionBench, count: number, rounds: number): Promise<string[]> {
  bench.sim.faults.add({ path: /^\//, delayMs: 20 });
  const rows: string[] = [];
  let serial = 0;
  for (const concurrency of [1, 8]) {
    const deps = bench.deps({ CONCURRENCY: String(concurrency) });
    const perMinute: number[] = [];
    let stillRetrying = 0;
    for (let round = 0; round < rounds; round++) {
      await seedEnded(bench, `l${String.fromCharCode(97 + serial++)}c${concurrency}`, count);
      const [first, second, retrying] = await tearDown(bench, deps, count);
      perMinute.push((count - retrying) / ((first.ms + second.ms) / 60_000));
      stillRetrying += retrying;
    }
    rows.push(`| ${concurrency} | ${count} | ${median(perMinute).toFixed(0)} | ${stillRetrying} | ${rounds} |`);
  }
  bench.sim.faults.clear();
  return [
    `### Throughput with every simulated call held 20 ms`,
    '',
    '| concurrency | reservations per round | finished teardowns per minute (median) | still retrying after two runs (all rounds) | rounds |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ];
}

/** A large reservations table: many long-finished teardowns, active reservations, and the due ones. */
async function explainAtScale(bench: FunctionBench, finished: number): Promise<string[]> {
  const now = bench.clock.now();
  await bench.db.pool.query(
    `insert into reservations (reservation_id, user_id, status, created_at, status_changed_at, expires_at)
     select 'old-' || g, 'u' || g, case when g % 10 = 0 then 'active' else 'expired' end, $1::timestamptz - interval '30 days',
       $1::timestamptz - (g % 60 + 8) * interval '1 day', $1::timestamptz + interval '1 hour' from generate_series(1, $2) g`,
    [now, finished],
  );
  await bench.db.pool.query(
    `insert into cleanup_progress (reservation_id, step, next_attempt_at, started_at, updated_at, completed_at)
     select reservation_id, 'done', status_changed_at, status_changed_at, status_changed_at, status_changed_at from reservations
     where reservation_id like 'old-%' and status = 'expired'`,
  );
  await bench.db.pool.query('analyze');
  const owner = randomUUID();
  const find = { now, sweepDays: 7, limit: 1000 };
  const start = await explainQuery(bench.db.pool, (db) => endedWithoutTeardown(db, find));
  await startTeardowns(
    bench.db.pool,
    (await endedWithoutTeardown(bench.db.pool, find)).map((row) => row.reservation_id),
    now,
  );
  const claim = await explainQuery(bench.db.pool, (db) =>
    claimTeardowns(db, { owner, now, leaseSeconds: 120, limit: 200 }),
  );
  return [
    `### Query plans over ${finished.toLocaleString('en')} older reservations (90% ended with finished teardowns, 10% active) and 200 just ended`,
    '',
    ...indexTable([
      {
        query: '`endedWithoutTeardown`: the sweep finds ended reservations without a teardown',
        index: 'reservations_terminal_since',
        plan: start,
      },
      { query: '`claimTeardowns`: lease the due teardowns', index: 'cleanup_progress_due', plan: claim },
    ]),
  ];
}

/** Accepts every CloudEvent, as the Knative broker would. */
async function startSink(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(202).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

export async function benchTeardown(context: BenchContext): Promise<string[]> {
  const sink = await startSink();
  const env = {
    AVAILABILITY_UPDATER_FUNCTION_NAME: UPDATER,
    EVENT_DELIVERY: 'knative',
    K_SINK: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/`,
    // 500 teardowns with no active fleet are far past the breaker's default limit (20); the breaker has its own tests.
    BREAKER_MIN_ACTIONS: '100000',
  };
  const bench = await startFunctionBench('teardown', env, { movingClock: true });
  bench.sim.aws.addFunction(UPDATER);
  try {
    const count = 500;
    await seedHistory(bench);
    await seedEnded(bench, 'swep', count);
    const sweep = await sweepTable(bench, count);
    const latency = await latencyTable(bench, context.quick ? 12 : 80, context.quick ? 1 : 3);
    await seedEnded(bench, 'due0', 200);
    const plans = await explainAtScale(bench, context.quick ? 20_000 : 100_000);
    return [
      'cleanup-pod against the simulator (real Kubernetes and AWS clients over HTTP) and an embedded PostgreSQL.',
      'A run reads back the pods it deleted once their 30 s grace period has passed, in the same run when its budget allows (the',
      'benchmark skips that wait, as it skips the time between runs); otherwise the next run does. The throughput and plan tables below',
      'run on the same moving clock with events delivered.',
      '',
      ...sweep,
      ...latency,
      ...plans,
    ];
  } finally {
    await bench.close();
    sink.closeAllConnections();
    await new Promise<void>((resolve) => sink.close(() => resolve()));
  }
}

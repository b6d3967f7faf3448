/*
 * cleanup-pod at fleet scale: one sweep that tears down 500 ended reservations amid an active fleet,
 * run as deployed (bench/teardown-sweep.ts: the simulator and the function in processes of their
 * own, the system clock), with the calls and statements it makes per reservation and its peak RSS;
 * then, in this process on a moving clock, throughput with every simulated call held 20 ms at
 * concurrency 1 and at the configured concurrency, and the plans of the sweep's queries over a large
 * reservations table. The in-process helpers here (startFunctionBench, measureRun, explainQuery,
 * indexTable) are shared with bench/snapshot-sync.ts. Real clients, the simulator over HTTP, a real
 * PostgreSQL.
 */
import { randomUUID } from 'node:crypto';
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
import { sweepAsDeployed } from './teardown-sweep.js';
import { simProductEnv } from '../sim/product-env.js';
import { startSink, sinkUrl } from './sink.js';

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
        ...simProductEnv(sim),
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

export async function benchTeardown(context: BenchContext): Promise<string[]> {
  // The issue's fleet is 100,000 active reservations with a pod each; quick mode sweeps amid 10,000.
  const sweep = await sweepAsDeployed(500, context.quick ? 10_000 : 100_000);
  const sink = await startSink();
  const env = {
    AVAILABILITY_UPDATER_FUNCTION_NAME: UPDATER,
    EVENT_DELIVERY: 'knative',
    K_SINK: sinkUrl(sink),
    // Teardowns with no active fleet are past the breaker's default limit (20); the breaker has its own tests.
    BREAKER_MIN_ACTIONS: '100000',
  };
  const bench = await startFunctionBench('teardown', env, { movingClock: true });
  bench.sim.aws.addFunction(UPDATER);
  try {
    const latency = await latencyTable(bench, context.quick ? 12 : 80, context.quick ? 1 : 3);
    await seedEnded(bench, 'due0', 200);
    const plans = await explainAtScale(bench, context.quick ? 20_000 : 100_000);
    return [
      'cleanup-pod against the simulator (real Kubernetes and AWS clients over HTTP) and an embedded PostgreSQL. The sweep runs as',
      "deployed (below); the throughput and plan tables after it run in the benchmark's process, with the simulator, on a moving",
      "clock that skips the grace period between runs and inside them (a run's budget counts the wait, its wall time does not), with",
      'events delivered.',
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

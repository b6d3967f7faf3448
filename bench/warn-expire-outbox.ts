/*
 * expire with event delivery on, as deployed (issue 18): 1,000 reservations past deadline + grace in
 * a fleet of 100,000 active ones (quick: 100 in 10,000), a pod in the simulator for every one of
 * them, a Knative sink that accepts every event, the system clock (it moves during the run, so the
 * budget and the timestamps do as deployed) and the safety rails at their defaults (clock sanity
 * against the database, the breaker's reads). The simulator and the sink run in a process of their
 * own (bench/warn-expire-sim.ts), the function in another (bench/warn-expire-run.ts: bundled, plain
 * node, a warm instance), which counts and times its own SQL statements. Per run: wall time, SQL
 * statements, DB time; the limit is one hand-written statement doing the same writes for the same
 * rows in the same database (the transitions, their outbox rows and their decisions), timed from
 * the benchmark process in the same round. Then the quiet run that follows (nothing due).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { BATCH_SIZE } from '../functions/expire/execute.js';
import { startBenchDatabase } from './database.js';
import type { BenchContext } from './context.js';
import type { RunFigures, RunRequest } from './function-process.js';
import { functionEnv, seedReservations } from './warn-expire-sim.js';
import type { ExpireSimCommand, ExpireSimStats } from './warn-expire-sim.js';
import { captureStatements, countStatements, plans } from './warn-expire-measure.js';
import type { StatementTime, Sweep } from './warn-expire-measure.js';
import { reservationsToCheck } from '../shared/db/queries/pod-observations.js';
import { endReservationsLogged, overdueReservations } from '../shared/db/queries/reservations.js';
import { outboxRecords } from '../shared/db/queries/outbox.js';
import { sourceFor } from '../shared/events/build.js';
import { EventTypes } from '../shared/events/types.js';
import { serverTime } from './server-time.js';
import type { ServerStatement } from './server-time.js';
import { fmt, median, timeMs } from './stats.js';
import { bundleWorker, deployedNodeOptions, startWorker } from './workers.js';
import type { Worker } from './workers.js';

// The target of issue 18: expire's DB time within 1.5× the single statement.
const TARGET = 1.5;
const NAMESPACE = 'gpu-dev';

type SimProcess = Worker<ExpireSimCommand, { stats?: ExpireSimStats }>;
type FunctionProcess = Worker<Omit<RunRequest, 'id'>, { figures: RunFigures }>;

interface Probed {
  statements: number;
  dbMs: number;
  times: StatementTime[];
}

async function reset(pool: pg.Pool): Promise<void> {
  await pool.query(`truncate event_outbox, decision_log, function_runs;
    update reservations set status = 'active', reservation_ended = null, status_history = '[]' where status <> 'active';
    update pod_observations set checked_at = null, absent_since = null, last_error = null`);
  await pool.query('vacuum analyze reservations, pod_observations, event_outbox, decision_log, function_runs');
}

/** The limit: expire's writes for the same rows in one statement (transitions, outbox rows, decisions). */
async function limitMs(pool: pg.Pool): Promise<{ ms: number; serverMs: number }> {
  const { value: ms, serverMs } = await serverTime(pool, () =>
    timeMs(() =>
      pool.query(
        `with ended as (
       update reservations set status = 'expired', status_changed_at = $1, reservation_ended = $1,
         status_history = coalesce(status_history, '[]'::jsonb) || jsonb_build_array(jsonb_build_object('status', 'expired', 'at', $1::timestamptz, 'reason', 'deadline', 'by', 'devenv-lifecycle'))
       where status = 'active' and expires_at < $1::timestamptz - interval '120 seconds'
       returning reservation_id, pod_name, namespace, expires_at),
     outbox as (
       insert into event_outbox (event_id, destination, type, source, subject, data, created_at, available_at)
       select gen_random_uuid(), 'sink', 'dev.devenv.reservation.expired', '/devenv-lifecycle/expire', reservation_id,
              jsonb_build_object('reservationId', reservation_id, 'previousStatus', 'active', 'reason', 'deadline', 'podName', pod_name,
                                 'namespace', namespace, 'expiresAt', expires_at, 'endedAt', $1::timestamptz), $1, $1
       from ended returning 1)
     insert into decision_log (decided_at, run_id, function, entity_kind, entity_id, action, reason, inputs, outcome)
     select $1, gen_random_uuid(), 'expire', 'reservation', reservation_id, 'expire', 'deadline', jsonb_build_object('expiresAt', expires_at), 'applied'
     from ended`,
        [new Date()],
      ),
    ),
  );
  await reset(pool);
  return { ms, serverMs };
}

const SWEEPS: Sweep[] = [
  {
    name: 'expire: overdue reservations',
    marker: "where status = 'active' and expires_at < $1::timestamptz - make_interval(secs => $2)",
    index: 'reservations_active_expires_at',
  },
  {
    name: "expire: the pod health check's rotation",
    marker: 'from pod_observations o join reservations',
    index: 'pod_observations_rotation',
  },
  {
    name: 'expire: the batch compare-and-set with its decisions and events (rolled back)',
    marker: 'update reservations r set',
    index: 'reservations_pkey',
  },
];

/** The plans of expire's sweeps over the seeded fleet, due rows present (the statements as expire sends them). */
async function sweepPlans(pool: pg.Pool, maxItems: number): Promise<string[]> {
  countStatements();
  const stop = captureStatements();
  const now = new Date();
  const due = await overdueReservations(pool, now, 120, maxItems + 1);
  await reservationsToCheck(pool, 200);
  const client = await pool.connect();
  try {
    await client.query('begin');
    const runId = '00000000-0000-4000-8000-000000000000';
    // As expire sends it: each end held to the facts its event announces, the events in the statement.
    const events = due.map((row) => ({
      eventId: randomUUID(),
      destination: 'sink',
      type: EventTypes.reservationExpired,
      source: sourceFor('expire'),
      subject: row.reservation_id,
      data: { reservationId: row.reservation_id, podName: row.pod_name, namespace: row.namespace },
    }));
    await endReservationsLogged(
      client,
      due.map((row) => ({
        reservationId: row.reservation_id,
        from: 'active',
        to: 'expired',
        reason: 'deadline',
        expectedExpiresAt: row.expires_at!,
        recordReason: false,
        now,
        announced: { podName: row.pod_name, namespace: row.namespace, expiresAt: row.expires_at },
        action: 'expire',
        inputs: { expiresAt: row.expires_at!.toISOString() },
      })),
      { runId, fn: 'expire', decidedAt: now },
      outboxRecords(events, now, { owner: runId, until: new Date(now.getTime() + 60_000) }),
    );
  } finally {
    await client.query('rollback');
    client.release();
  }
  return plans(pool, stop(), SWEEPS);
}

interface Run {
  ms: number;
  cpuMs: number;
  statements: number;
  dbMs: number;
  times: StatementTime[];
  summary: Record<string, number>;
  outcome: string;
}

interface Round {
  due: Run;
  /** The due run's statements as the server timed them (pg_stat_statements). */
  dueServer: { ms: number; statements: ServerStatement[] };
  quiet: Run;
  delivered: number;
  accepted: number;
  limit: number;
  limitServer: number;
}

async function runOnce(fn: FunctionProcess, env: Record<string, string>, maxItems: number): Promise<Run> {
  const { figures } = await fn.ask({ env, maxItems });
  const probe = figures.probe as unknown as Probed;
  return {
    ms: figures.ms,
    cpuMs: figures.cpuMs,
    statements: probe.statements,
    dbMs: probe.dbMs,
    times: probe.times,
    summary: figures.result.summary,
    outcome: figures.result.outcome,
  };
}

/*
 * Rounds differ more on 2 shared cores than the target's margin (the limit itself varies by half), so
 * this short section runs more of them, and its figure is the median of each round's own ratio: a
 * run against the limit timed right after it on the same data.
 */
const PAIRED_ROUNDS = 11;
const roundsOf = (context: BenchContext) => Math.max(context.rounds, context.quick ? 0 : PAIRED_ROUNDS);

export async function benchExpireOutbox(context: BenchContext): Promise<string[]> {
  const fleet = context.quick ? 10_000 : 100_000;
  const due = fleet / 100;
  const maxItems = Math.max(200, due);
  const bundleDir = await mkdtemp(join(tmpdir(), 'devenv-lifecycle-bench-expire-'));
  // The simulator stands in for the API server and the broker, which in service run elsewhere. Its
  // heap holds 100,000 pods; collected by parallel threads it would take both of the machine's
  // cores from PostgreSQL at random moments of the measured runs, so it collects on one thread.
  const sim: SimProcess = await startWorker('./warn-expire-sim.ts', ['--single-threaded-gc']);
  const fn: FunctionProcess = await startWorker(
    await bundleWorker('warn-expire-run', bundleDir),
    deployedNodeOptions('expire'),
  );
  // Each round truncates the outbox, the decision log and the runs, and vacuums and analyzes what it
  // reset. Autovacuum would then start on those nearly empty tables (50 new rows are enough) at
  // random points inside the measured runs: a cost of the reset, not of expire, whose tables in
  // service hold far more rows than one run adds.
  const db = await startBenchDatabase('expire-outbox', { statementStatistics: true, autovacuum: false });
  const env = functionEnv(sim.ready, db.url, maxItems);
  const rounds: Round[] = [];
  let explained: string[];
  try {
    await Promise.all([
      sim.ask({ type: 'seed', namespace: NAMESPACE, count: fleet }),
      seedReservations(db.pool, fleet, due),
    ]);
    await reset(db.pool);
    explained = await sweepPlans(db.pool, maxItems);
    // A warm instance has served runs before: one round first, not recorded.
    for (let r = -1; r < roundsOf(context); r++) {
      await reset(db.pool);
      const acceptedBefore = (await sim.ask({ type: 'stats' })).stats!.eventsAccepted;
      const served = await serverTime(db.pool, () => runOnce(fn, env, maxItems));
      const dueRun = served.value;
      const quiet = await runOnce(fn, env, maxItems);
      const accepted = (await sim.ask({ type: 'stats' })).stats!.eventsAccepted - acceptedBefore;
      const delivered = Number(
        (await db.pool.query('select count(*) from event_outbox where delivered_at is not null')).rows[0].count,
      );
      await reset(db.pool);
      const limit = await limitMs(db.pool);
      const dueServer = { ms: served.serverMs, statements: served.statements };
      if (r >= 0)
        rounds.push({
          due: dueRun,
          dueServer,
          quiet,
          delivered,
          accepted,
          limit: limit.ms,
          limitServer: limit.serverMs,
        });
    }
  } finally {
    fn.stop();
    sim.stop();
    await db.stop();
    await rm(bundleDir, { recursive: true, force: true });
  }
  return [
    ...report(context, fleet, due, maxItems, rounds),
    '',
    `Plans at ${fleet.toLocaleString('en')} active reservations (EXPLAIN (ANALYZE, BUFFERS), due rows present):`,
    '',
    ...explained,
  ];
}

/** Each statement of the median round's due run, slowest first (concurrent reads overlap). */
function statementTable(round: Round): string[] {
  return [
    '| statement (start of its text) | latency |',
    '|---|---|',
    ...[...round.due.times]
      .sort((a, b) => b.ms - a.ms)
      .map((time) => `| \`${time.text.replace(/\|/g, '\\|')}\` | ${fmt(time.ms)} |`),
  ];
}

/** The median round's due run as the server timed it, by normalised statement, slowest first. */
function serverTable(round: Round): string[] {
  return [
    '| statement (normalised, start of its text) | calls | server time |',
    '|---|---|---|',
    ...round.dueServer.statements
      .slice(0, 12)
      .map((s) => `| \`${s.text.replace(/\|/g, '\\|')}\` | ${s.calls} | ${fmt(s.ms)} |`),
  ];
}

function report(context: BenchContext, fleet: number, due: number, maxItems: number, rounds: Round[]): string[] {
  const m = (value: (round: Round) => number) => median(rounds.map(value));
  const dbMs = m((r) => r.due.dbMs);
  const limit = m((r) => r.limit);
  const ratios = rounds.map((r) => r.due.dbMs / r.limit);
  const ratio = median(ratios);
  const serverMs = m((r) => r.dueServer.ms);
  const limitServer = m((r) => r.limitServer);
  const serverRatios = rounds.map((r) => r.dueServer.ms / r.limitServer);
  const serverRatio = median(serverRatios);
  const middle = [...rounds].sort((a, b) => a.due.dbMs - b.due.dbMs)[Math.floor(rounds.length / 2)]!;
  const fleetNote = context.quick
    ? `quick mode: ${fleet.toLocaleString('en')} active with ${due} due, not the issue's fleet of 100,000 with 1,000 due (the full run)`
    : `the issue's fleet`;
  return [
    `${fleet.toLocaleString('en')} active reservations with a pod in the simulator for every one; ${due.toLocaleString('en')} are past deadline + grace (${fleetNote}). One scheduled expire run, then the quiet run that follows (nothing due), through the real handler, event delivery ON (Knative mode, a sink answering 202), MAX_ITEMS ${maxItems}, the rails at their defaults, on the system clock.`,
    `As deployed: the simulator and the sink are a process of their own (its garbage collection on one thread, so that it cannot take both cores from PostgreSQL), reached over HTTP; the function is another (bundled by esbuild as build/bundle.ts does, plain node with its stack.yml NODE_OPTIONS, a warm instance serving the runs in turn, one unrecorded round first) and counts its own statements, so nothing else runs in its event loop; PostgreSQL is the embedded server.`,
    `SQL statements count every statement of the run (runs table, single-flight lock, rails, reads, transactions, outbox lease and marking); DB time is how long at least one was in flight, as the function's client saw it. The limit is one statement doing the same writes for the same rows (\`WITH ended AS (UPDATE … RETURNING), outbox AS (INSERT INTO event_outbox …) INSERT INTO decision_log …\`), timed from the benchmark process on the same data in the same round; it marks nothing delivered. Medians of ${rounds.length} rounds; "× limit" is the median of each round's own ratio (its run against the limit timed right after it), not the ratio of the two medians. Autovacuum is off in this server: each round vacuums and analyzes the tables it reset itself, and autovacuum would otherwise wake on those nearly empty tables inside measured runs.`,
    '',
    '| active | due | expired | events delivered (sink accepted) | wall | SQL statements | DB time (client) | limit | × limit | server time | limit (server) | × limit (server) | quiet run: statements, DB time, wall |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    `| ${fleet.toLocaleString('en')} | ${due.toLocaleString('en')} | ${m((r) => r.due.summary.expired ?? 0)} | ${m((r) => r.delivered)} (${m((r) => r.accepted)}) | ${fmt(m((r) => r.due.ms))} | ${m((r) => r.due.statements)} | ${fmt(dbMs)} | ${fmt(limit)} | ×${ratio.toFixed(2)} | ${fmt(serverMs)} | ${fmt(limitServer)} | ×${serverRatio.toFixed(2)} | ${m((r) => r.quiet.statements)}, ${fmt(m((r) => r.quiet.dbMs))}, ${fmt(m((r) => r.quiet.ms))} |`,
    '',
    `Server time is what pg_stat_statements counted for the run's statements (summed: the concurrent reads overlap) and for the limit: the time the statements ran in PostgreSQL, without the client parsing rows or pausing for garbage collection.`,
    '',
    `Target "expire's DB time within ${TARGET}× the single statement, statements O(batches)": as the client sees it ×${ratio.toFixed(2)} — ${ratio <= TARGET ? 'met' : 'MISSED'} (rounds: ${ratios.map((x) => `×${x.toFixed(2)}`).join(', ')}); in the server ×${serverRatio.toFixed(2)} — ${serverRatio <= TARGET ? 'met' : 'MISSED'} (rounds: ${serverRatios.map((x) => `×${x.toFixed(2)}`).join(', ')}); statements per due run ${rounds.map((r) => r.due.statements).join(' / ')}, per quiet run ${rounds.map((r) => r.quiet.statements).join(' / ')}; outcomes ${[...new Set(rounds.flatMap((r) => [r.due.outcome, r.quiet.outcome]))].join(', ')}.`,
    `The statement count is exact and fixed per batch of ${BATCH_SIZE.toLocaleString('en')} transitions (test/integration/expire-statements.test.ts). Where the DB time of the median round's due run went, statement by statement (client-side latency of each; the reads run concurrently, so their latencies overlap):`,
    '',
    ...statementTable(middle),
    '',
    'The same run as the server timed it (pg_stat_statements; every batch of a statement shape counts under one line):',
    '',
    ...serverTable(middle),
  ];
}

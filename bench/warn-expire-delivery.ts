/*
 * warn's delivery at a realistic exec latency (issue 18): 100 and 1,000 due warnings in a fleet of
 * active reservations, every pod exec held 100 ms by the simulator (a route fault on the exec
 * upgrade, before the WebSocket handshake), and a clock that moves with real time, so the run's
 * time budget bites as it does when deployed. Per run: wall time, pod execs (one per warning),
 * SQL statements (the same in every round for the same work), warnings delivered and deferred.
 * warn runs on the kernel: batches of WARN_CONCURRENCY warnings, each one wave of execs, claimed
 * and recorded with one statement apiece.
 */
import { Writable } from 'node:stream';
import type pg from 'pg';
import { warn } from '../functions/warn/handler.js';
import type { Clock } from '../shared/clock.js';
import { loadConfig } from '../shared/config.js';
import { makeDeps } from '../shared/deps.js';
import type { Deps } from '../shared/deps.js';
import { createLogger } from '../shared/log.js';
import { startSim } from '../sim/server.js';
import type { Sim } from '../sim/server.js';
import { startBenchDatabase } from './database.js';
import type { BenchDatabase } from './database.js';
import type { BenchContext } from './context.js';
import { countStatements, measure } from './warn-expire-measure.js';
import type { Measure } from './warn-expire-measure.js';
import { fmt, median } from './stats.js';
import { simProductEnv } from '../sim/product-env.js';

const START = new Date('2026-06-01T12:00:00Z');
const EXEC_LATENCY_MS = 100;

/** Real time, offset to the benchmark's calendar: a run's budget runs out as it would deployed. */
class MovingClock implements Clock {
  private readonly origin = performance.now();
  now(): Date {
    return new Date(START.getTime() + (performance.now() - this.origin));
  }
}

/** [0, due) expire 20-30 minutes from now (the 30-minute level is due), the rest hours later. */
async function seed(pool: pg.Pool, sim: Sim, clock: Clock, fleet: number, due: number): Promise<void> {
  await pool.query('truncate reservations cascade');
  await pool.query(
    `insert into reservations (reservation_id, user_id, status, created_at, launched_at, status_changed_at, expires_at, pod_name, namespace)
     select 'bench-' || lpad(i::text, 7, '0'), 'user-' || (i % 5000), 'active', $1::timestamptz - interval '3 hours',
            $1::timestamptz - interval '3 hours', $1::timestamptz - interval '3 hours',
            case when i < $3 then $1::timestamptz + interval '25 minutes' + (i % 300) * interval '1 second'
                 else $1::timestamptz + interval '2 hours' + (i % 10000) * interval '1 minute' end,
            'gpu-dev-bench-' || lpad(i::text, 7, '0'), 'gpu-dev'
     from generate_series(0, $2 - 1) as i`,
    [clock.now(), fleet, due],
  );
  await pool.query('vacuum analyze reservations');
  const existing = new Set(sim.kube.list('pods').map((pod) => pod.metadata.name));
  for (let i = 0; i < due; i++) {
    const name = `bench-${String(i).padStart(7, '0')}`;
    if (!existing.has(`gpu-dev-${name}`))
      sim.kube.addPod({ name: `gpu-dev-${name}`, namespace: 'gpu-dev', labels: { 'reservation-id': name } });
  }
}

function depsFor(db: BenchDatabase, sim: Sim, clock: Clock, due: number, fanOut?: number): Deps {
  const config = loadConfig({
    DATABASE_URL: db.url,
    ...simProductEnv(sim),
    // The benchmark's clock runs on its own calendar: clock sanity off.
    EVENT_DELIVERY: 'none',
    SECRETS_DIR: '/nonexistent',
    MAX_ITEMS: String(Math.max(200, due)),
    CLOCK_SKEW_MAX_SECONDS: '0',
    ...(fanOut !== undefined && { WARN_CONCURRENCY: String(fanOut) }),
  });
  const log = createLogger({
    level: 'silent',
    hashSalt: 's',
    destination: new Writable({ write: (_c, _e, done) => done() }),
  });
  return makeDeps(config, { clock, log, pool: db.pool });
}

interface Case {
  due: number;
  fanOut: number;
  runs: Measure[];
  deferred: number[];
  /** CPU of the whole process during the run: the function, the client, and the in-process simulator. */
  cpuMs: number[];
  budgetSeconds: number;
  /** The old fan-out, shown for comparison only. */
  comparison: boolean;
}

async function runCase(
  db: BenchDatabase,
  sim: Sim,
  clock: Clock,
  due: number,
  rounds: number,
  fanOut?: number,
): Promise<Case> {
  const deps = depsFor(db, sim, clock, due, fanOut);
  const runs: Measure[] = [];
  const deferred: number[] = [];
  const cpuMs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    await db.pool.query('truncate warning_ledger, event_outbox, decision_log, function_runs');
    const cpu = process.cpuUsage();
    const run = await measure(deps, sim, warn, 'warned');
    const used = process.cpuUsage(cpu);
    runs.push(run);
    cpuMs.push((used.user + used.system) / 1000);
    const { rows } = await db.pool.query<{ n: string }>(
      `select count(*) as n from warning_ledger where state = 'sent'`,
    );
    deferred.push(due - Number(rows[0]!.n));
  }
  return {
    due,
    fanOut: deps.config.warn.concurrency,
    runs,
    deferred,
    budgetSeconds: deps.config.run.budgetSeconds,
    cpuMs,
    comparison: fanOut !== undefined,
  };
}

export async function benchWarnDelivery(context: BenchContext): Promise<string[]> {
  countStatements();
  const fleet = context.quick ? 10_000 : 100_000;
  const clock = new MovingClock();
  const db = await startBenchDatabase('warn-delivery');
  const sim = await startSim({ clock });
  const cases: Case[] = [];
  try {
    sim.faults.add({ path: /\/pods\/[^/]+\/exec\?/, delayMs: EXEC_LATENCY_MS, label: 'exec-latency' });
    for (const due of [100, 1_000]) {
      await seed(db.pool, sim, clock, fleet, due);
      cases.push(await runCase(db, sim, clock, due, context.rounds));
      // The old fan-out, for comparison (one round: at 8 in flight, 100 ms execs bound it).
      if (due === 100) cases.push(await runCase(db, sim, clock, due, 1, 8));
    }
  } finally {
    await sim.close();
    await db.stop();
  }
  return [...lead(context, fleet), '', ...table(cases), '', ...verdict(cases)];
}

function lead(context: BenchContext, fleet: number): string[] {
  return [
    `A fleet of ${fleet.toLocaleString('en')} active reservations; 100, then 1,000 of them owe their 30-minute warning, each with its pod in the simulator.`,
    `Scheduled runs through the real handler, the real Kubernetes client against the simulator and the embedded PostgreSQL, with WARN_CONCURRENCY at its default unless shown, MAX_ITEMS raised to the number due and the default run budget.`,
    `Every pod exec is held ${EXEC_LATENCY_MS} ms by the simulator before its WebSocket handshake (a route fault), and the clock moves with real time, so the run budget bites as it does deployed.`,
    `What differs from a deployment: the simulator runs in the benchmark's own process (its exec sessions compete with the function for the event loop), event delivery is off (the reservation.warned events are staged in the outbox, not posted), no webhook is configured, and exec latency is a fixed ${EXEC_LATENCY_MS} ms rather than a real API server's and kubelet's.`,
    `SQL statements count every statement of the run (runs table, single-flight lock and transactions included). Medians of ${context.rounds} rounds (1 round for the fan-out 8 row); statements are listed for every round.`,
    `Process CPU is the benchmark process's user + system time during the run (the function, its clients and the in-process simulator's exec sessions): on a loaded machine the wall time grows well past it, since the run then waits for a core.`,
  ];
}

function table(cases: Case[]): string[] {
  return [
    '| due | fan-out | delivered | deferred | wall (median) | wall (max) | process CPU (median) | pod execs | SQL statements (each round) |',
    '|---|---|---|---|---|---|---|---|---|',
    ...cases.map((c) => {
      const walls = c.runs.map((run) => run.wallMs);
      const delivered = median(c.runs.map((run) => run.done));
      return `| ${c.due.toLocaleString('en')} | ${c.fanOut} | ${delivered} | ${median(c.deferred)} | ${fmt(median(walls))} | ${fmt(Math.max(...walls))} | ${fmt(median(c.cpuMs))} | ${median(c.runs.map((run) => run.kube.exec))} | ${c.runs.map((run) => run.statements).join(' / ')} |`;
    }),
  ];
}

function verdict(cases: Case[]): string[] {
  const main = cases.filter((c) => !c.comparison);
  const hundred = main.find((c) => c.due === 100)!;
  const thousand = main.find((c) => c.due === 1_000)!;
  const worst = (c: Case) => Math.max(...c.runs.map((run) => run.wallMs));
  const oneExecEach = main.every((c) => c.runs.every((run) => run.kube.exec === run.done && run.done === c.due));
  const steady = main.every((c) => new Set(c.runs.map((run) => run.statements)).size === 1);
  const met = (ok: boolean) => (ok ? 'met' : 'MISSED');
  return [
    `Target "100 due warnings in ≤ 1 s": slowest of ${hundred.runs.length} runs ${fmt(worst(hundred))} — ${met(worst(hundred) <= 1000)}.`,
    `Target "1,000 due warnings in one run budget (${thousand.budgetSeconds} s)": slowest run ${fmt(worst(thousand))}, ${Math.max(...thousand.deferred)} left for the next run — ${met(worst(thousand) <= thousand.budgetSeconds * 1000 && Math.max(...thousand.deferred) === 0)}.`,
    `Target "one exec per warning": ${met(oneExecEach)}. Target "the same SQL statements for the same work": ${met(steady)} (claims, outcomes, decisions and events are written per batch of WARN_CONCURRENCY warnings, never per warning).`,
  ];
}

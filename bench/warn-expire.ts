/*
 * warn and expire at fleet scale: 1k, 10k and 100k active reservations (quick: 1k and 10k), 1% due
 * for a warning and 1% past deadline + grace, against the embedded PostgreSQL and the simulator with
 * the real clients. Per run: wall time, SQL statements and their time, rows read, Kubernetes calls;
 * each due run's DB time is compared with the limit, one hand-written set-based statement doing the
 * same state change in the same database. Then a quiet run (nothing due), and the plans of the sweep
 * queries at the largest fleet.
 */
import type pg from 'pg';
import { expire } from '../functions/expire/handler.js';
import { warn } from '../functions/warn/handler.js';
import { ManualClock } from '../shared/clock.js';
import type { Deps } from '../shared/deps.js';
import type { Sim } from '../sim/server.js';
import { FAR_OFF, insertReservationSeries, seriesId } from '../test/support/series.js';
import { startWorld } from '../test/support/world.js';
import type { World } from '../test/support/world.js';
import { startBenchDatabase } from './database.js';
import type { BenchDatabase } from './database.js';
import type { BenchContext } from './context.js';
import { captureStatements, countStatements, measure, plans } from './warn-expire-measure.js';
import type { Measure } from './warn-expire-measure.js';
import { fmt, median, timeMs } from './stats.js';

const NOW = new Date('2026-06-01T12:00:00Z');
const POD_SAMPLE = 400; // pods beyond the due ones: two runs' worth of expire's rotating health check

/** The fleet: [0, due) expire within 20-30 min, [due, 2 due) are past deadline + grace, the rest far off. */
async function seedFleet(pool: pg.Pool, sim: Sim, fleet: number, due: number): Promise<void> {
  await pool.query('truncate reservations cascade');
  await insertReservationSeries(pool, {
    now: NOW,
    count: fleet,
    due,
    expiresAt: `case when i < $3 then $1::timestamptz + interval '20 minutes' + (i % 600) * interval '1 second'
                     when i < 2 * $3 then $1::timestamptz - interval '10 minutes' - (i % 600) * interval '1 second'
                     else ${FAR_OFF} end`,
  });
  await pool.query('vacuum analyze reservations, pod_observations');
  for (let i = 0; i < Math.min(fleet, 2 * due + POD_SAMPLE); i++) {
    sim.kube.addPod({
      name: `gpu-dev-${seriesId(i)}`,
      namespace: 'gpu-dev',
      labels: { 'reservation-id': seriesId(i) },
    });
  }
}

/** Back to the seeded state: nothing warned, nothing expired, no memory of earlier runs. */
async function reset(pool: pg.Pool): Promise<void> {
  await pool.query(`truncate warning_ledger, event_outbox, decision_log, function_runs;
    update reservations set status = 'active', reservation_ended = null, status_history = '[]' where status <> 'active';
    update pod_observations set checked_at = null, absent_since = null, last_error = null`);
  await pool.query('vacuum analyze reservations, pod_observations');
}

/** The limit: one set-based statement doing each run's state change, timed on the same data. */
async function limits(pool: pg.Pool): Promise<{ warn: number; expire: number }> {
  const warnMs = await timeMs(() =>
    pool.query(
      `insert into warning_ledger (reservation_id, expires_at, level_minutes, state, minutes_left, first_attempt_at, sent_at)
     select reservation_id, expires_at, 30, 'sent', 29, $1, $1 from reservations
     where status = 'active' and expires_at > $1 and expires_at <= $1::timestamptz + interval '30 minutes'
     returning reservation_id`,
      [NOW],
    ),
  );
  const expireMs = await timeMs(() =>
    pool.query(
      `update reservations set status = 'expired', reservation_ended = $1
     where status = 'active' and expires_at < $1::timestamptz - interval '120 seconds' returning reservation_id`,
      [NOW],
    ),
  );
  await reset(pool);
  return { warn: warnMs, expire: expireMs };
}

type Round = Record<'warnDue' | 'warnQuiet' | 'expireDue' | 'expireQuiet', Measure> & {
  limit: { warn: number; expire: number };
};

async function round(deps: Deps, sim: Sim): Promise<Round> {
  await reset(deps.pool);
  const warnDue = await measure(deps, sim, warn, 'warned');
  const warnQuiet = await measure(deps, sim, warn, 'warned');
  const expireDue = await measure(deps, sim, expire, 'expired');
  const expireQuiet = await measure(deps, sim, expire, 'expired');
  await reset(deps.pool);
  return { warnDue, warnQuiet, expireDue, expireQuiet, limit: await limits(deps.pool) };
}

/** The functions' world on the benchmark's database: a simulator and Deps sharing one manual clock at NOW. */
function worldFor(db: BenchDatabase, due: number): Promise<World> {
  return startWorld(db, {
    clock: new ManualClock(NOW),
    // The benchmark's manual clock keeps its own time: clock sanity off. Request timeouts as deployed.
    env: {
      MAX_ITEMS: String(Math.max(200, due)),
      CLOCK_SKEW_MAX_SECONDS: '0',
      KUBE_REQUEST_TIMEOUT_MS: '10000',
      EXEC_TIMEOUT_SECONDS: '30',
    },
  });
}

const pick = (rounds: Round[], run: keyof Omit<Round, 'limit'>, value: (m: Measure) => number) =>
  median(rounds.map((r) => value(r[run])));
const kubeCalls = (rounds: Round[], run: keyof Omit<Round, 'limit'>) => {
  const m = rounds.at(-1)![run].kube;
  return `${m.list + m.get + m.exec} (${m.list} list, ${m.get} get, ${m.exec} exec)`;
};

function rows(fleet: number, due: number, rounds: Round[]): string[] {
  const line = (run: keyof Omit<Round, 'limit'>, label: string, limit?: number) => {
    const dbMs = pick(rounds, run, (m) => m.dbMs);
    const versus = limit === undefined ? '–' : `${fmt(limit)} (×${(dbMs / limit).toFixed(1)})`;
    return `| ${fleet.toLocaleString('en')} | ${label} | ${pick(rounds, run, (m) => m.done)} | ${fmt(pick(rounds, run, (m) => m.wallMs))} | ${pick(rounds, run, (m) => m.statements)} | ${fmt(dbMs)} | ${versus} | ${pick(rounds, run, (m) => m.rows).toLocaleString('en')} | ${kubeCalls(rounds, run)} |`;
  };
  return [
    line('warnDue', `warn, ${due} due`, median(rounds.map((r) => r.limit.warn))),
    line('warnQuiet', 'warn, quiet'),
    line('expireDue', `expire, ${due} due`, median(rounds.map((r) => r.limit.expire))),
    line('expireQuiet', 'expire, quiet'),
  ];
}

export async function benchWarnExpire(context: BenchContext): Promise<string[]> {
  countStatements();
  const fleets = context.quick ? [1_000, 10_000] : [1_000, 10_000, 100_000];
  const db = await startBenchDatabase('warn-expire');
  const table: string[] = [];
  const quiet: Quiet[] = [];
  let planLines: string[] = [];
  try {
    for (const fleet of fleets) {
      const due = fleet / 100;
      const { sim, deps, close } = await worldFor(db, due);
      await seedFleet(db.pool, sim, fleet, due);
      const rounds: Round[] = [];
      for (let r = 0; r < context.rounds; r++) {
        const stop = r === context.rounds - 1 && fleet === fleets.at(-1) ? captureStatements() : undefined;
        rounds.push(await round(deps, sim));
        if (stop) planLines = await plans(db.pool, stop());
      }
      table.push(...rows(fleet, due, rounds));
      quiet.push({ fleet, warn: quietOf(rounds, 'warnQuiet'), expire: quietOf(rounds, 'expireQuiet') });
      await close();
    }
  } finally {
    await db.stop();
  }
  return [
    ...lead(context, fleets),
    '',
    ...header(),
    ...table,
    '',
    ...verdict(quiet),
    '',
    `Plans at ${fleets.at(-1)!.toLocaleString('en')} active reservations (EXPLAIN (ANALYZE, BUFFERS), due rows present):`,
    '',
    ...planLines,
  ];
}

function lead(context: BenchContext, fleets: number[]): string[] {
  return [
    `Fleets of ${fleets.map((f) => f.toLocaleString('en')).join(', ')} active reservations; 1% owe a warning (20-30 minutes left) and 1% are past deadline + grace.`,
    `Scheduled runs through the real handlers, the real Kubernetes client against the simulator, the embedded PostgreSQL; MAX_ITEMS is raised to the number due so one run does all of it.`,
    `Pods exist in the simulator only for the due reservations plus a sample of ${POD_SAMPLE} (what two runs of expire's rotating health check visit, POD_CHECK_BATCH = 200 each).`,
    `warn lists the due reservations' pods by label (50 per call) before writing into them; "quiet" is the next run at the same instant: nothing new is due, but expire's health check still visits its next 200 pods.`,
    `SQL statements count every statement of the run (runs table, single-flight lock, transactions included); DB time is how long at least one of them was in flight, as the client saw it;`,
    `the limit is one hand-written \`INSERT … SELECT … RETURNING\` (warn: the ledger rows) or \`UPDATE … RETURNING\` (expire) doing the same state change on the same data.`,
    `Rows read are pg_stat_database tup_returned + tup_fetched for the run. Medians of ${context.rounds} rounds; Kubernetes calls from the last round.`,
    `The simulator serves its exec WebSockets from the benchmark's own process, so a due warn run's wall and DB time include that work competing for the event loop; the statement and call counts are exact.`,
  ];
}

interface Quiet {
  fleet: number;
  warn: { wallMs: number; statements: number };
  expire: { wallMs: number; statements: number };
}

const quietOf = (rounds: Round[], run: 'warnQuiet' | 'expireQuiet') => ({
  wallMs: pick(rounds, run, (m) => m.wallMs),
  statements: pick(rounds, run, (m) => m.statements),
});

/** The targets: a quiet run under 1 s at the largest fleet, and statements that do not grow with the fleet. */
function verdict(quiet: Quiet[]): string[] {
  const largest = quiet.at(-1)!;
  const slowest = Math.max(largest.warn.wallMs, largest.expire.wallMs);
  const flat = (fn: 'warn' | 'expire') => new Set(quiet.map((q) => q[fn].statements)).size === 1;
  return [
    `Target "a quiet run under 1 s" at ${largest.fleet.toLocaleString('en')} active: warn ${fmt(largest.warn.wallMs)}, expire ${fmt(largest.expire.wallMs)} — ${slowest < 1000 ? 'met' : 'MISSED'}.`,
    `Target "SQL statements independent of the fleet": quiet runs take warn ${quiet.map((q) => q.warn.statements).join(' / ')} and expire ${quiet.map((q) => q.expire.statements).join(' / ')} statements across the fleets — ${flat('warn') && flat('expire') ? 'met' : 'MISSED'}; due runs grow with what is due (warn: one transaction per group of deliveries that finish together; expire: one per batch of 100 transitions), not with the fleet.`,
  ];
}

function header(): string[] {
  return [
    '| active | run | acted on | wall | SQL statements | DB time | limit (×) | rows read | Kubernetes calls |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
}

/*
 * expire with event delivery on, as deployed (issue 18): 1,000 reservations past deadline + grace in
 * a fleet of 100,000 active ones (quick: 100 in 10,000), a pod in the simulator for every one of
 * them, a Knative sink that accepts every event, a clock that moves with real time and the safety
 * rails at their defaults (clock sanity against the database, the breaker's reads). Per run: wall
 * time, SQL statements, DB time; the limit is one hand-written statement doing the same writes for
 * the same rows in the same database (the transitions, their outbox rows and their decisions),
 * timed in the same round.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type pg from 'pg';
import { BATCH_SIZE } from '../functions/expire/execute.js';
import { expire } from '../functions/expire/handler.js';
import type { Clock } from '../shared/clock.js';
import { loadConfig } from '../shared/config.js';
import { makeDeps } from '../shared/deps.js';
import type { Deps } from '../shared/deps.js';
import { createLogger } from '../shared/log.js';
import { startSim } from '../sim/server.js';
import type { Sim } from '../sim/server.js';
import { startBenchDatabase } from './database.js';
import type { BenchContext } from './context.js';
import { countStatements, measure } from './warn-expire-measure.js';
import type { Measure } from './warn-expire-measure.js';
import { fmt, median, timeMs } from './stats.js';

// The real time: clock sanity compares the function's clock with the database's, as deployed.
const START = new Date(Math.floor(Date.now() / 1000) * 1000);
// The target of issue 18: expire's DB time within 1.5× the single statement.
const TARGET = 1.5;

/** Real time from START on: the run's budget and timestamps move as deployed. */
class MovingClock implements Clock {
  private readonly origin = performance.now();
  now(): Date {
    return new Date(START.getTime() + (performance.now() - this.origin));
  }
}

/** [0, due) are 10-20 minutes past their deadline, the rest hours ahead; a pod for every one. */
async function seed(pool: pg.Pool, sim: Sim, fleet: number, due: number): Promise<void> {
  await pool.query('truncate reservations cascade');
  await pool.query(
    `insert into reservations (reservation_id, user_id, status, created_at, launched_at, status_changed_at, expires_at, pod_name, namespace)
     select 'bench-' || lpad(i::text, 7, '0'), 'user-' || (i % 5000), 'active', $1::timestamptz - interval '3 hours',
            $1::timestamptz - interval '3 hours', $1::timestamptz - interval '3 hours',
            case when i < $3 then $1::timestamptz - interval '10 minutes' - (i % 600) * interval '1 second'
                 else $1::timestamptz + interval '2 hours' + (i % 10000) * interval '1 minute' end,
            'gpu-dev-bench-' || lpad(i::text, 7, '0'), 'gpu-dev'
     from generate_series(0, $2 - 1) as i`,
    [START, fleet, due],
  );
  for (let i = 0; i < fleet; i++) {
    const name = `bench-${String(i).padStart(7, '0')}`;
    sim.kube.addPod({ name: `gpu-dev-${name}`, namespace: 'gpu-dev', labels: { 'reservation-id': name } });
  }
}

async function reset(pool: pg.Pool): Promise<void> {
  await pool.query(`truncate event_outbox, decision_log, function_runs;
    update reservations set status = 'active', reservation_ended = null, status_history = '[]' where status <> 'active';
    update pod_observations set checked_at = null, absent_since = null, last_error = null`);
  await pool.query('vacuum analyze reservations, pod_observations, event_outbox, decision_log');
}

/** The limit: expire's writes for the same rows in one statement (transitions, outbox rows, decisions). */
async function limitMs(pool: pg.Pool, now: Date): Promise<number> {
  const ms = await timeMs(() =>
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
      [now],
    ),
  );
  await reset(pool);
  return ms;
}

interface Round {
  run: Measure;
  delivered: number;
  limit: number;
}

function depsFor(db: { url: string; pool: pg.Pool }, sim: Sim, sinkUrl: string, due: number, clock: Clock): Deps {
  const config = loadConfig({
    DATABASE_URL: db.url,
    KUBE_API_SERVER: sim.url,
    KUBE_TOKEN: sim.token,
    AWS_ENDPOINT_URL: sim.url,
    AWS_ACCESS_KEY_ID: 'AKIDBENCH',
    AWS_SECRET_ACCESS_KEY: 'secret',
    AWS_REGION: 'us-east-1',
    EVENT_DELIVERY: 'knative',
    K_SINK: sinkUrl,
    SECRETS_DIR: '/nonexistent',
    MAX_ITEMS: String(Math.max(200, due)),
  });
  const log = createLogger({
    level: 'silent',
    hashSalt: 's',
    destination: new Writable({ write: (_c, _e, done) => done() }),
  });
  return makeDeps(config, { clock, log, pool: db.pool });
}

export async function benchExpireOutbox(context: BenchContext): Promise<string[]> {
  countStatements();
  const fleet = context.quick ? 10_000 : 100_000;
  const due = fleet / 100;
  const sink = http.createServer((req, res) => req.resume().on('end', () => res.writeHead(202).end()));
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  const db = await startBenchDatabase('expire-outbox');
  const clock = new MovingClock();
  const sim = await startSim({ clock });
  const rounds: Round[] = [];
  try {
    await seed(db.pool, sim, fleet, due);
    const deps = depsFor(db, sim, `http://127.0.0.1:${(sink.address() as AddressInfo).port}/`, due, clock);
    for (let r = 0; r < context.rounds; r++) {
      await reset(db.pool);
      const run = await measure(deps, sim, expire, 'expired');
      const delivered = Number(
        (await db.pool.query('select count(*) from event_outbox where delivered_at is not null')).rows[0].count,
      );
      await reset(db.pool);
      rounds.push({ run, delivered, limit: await limitMs(db.pool, clock.now()) });
    }
  } finally {
    await sim.close();
    await db.stop();
    await new Promise<void>((resolve) => sink.close(() => resolve()));
  }
  return report(context, fleet, due, rounds);
}

function report(context: BenchContext, fleet: number, due: number, rounds: Round[]): string[] {
  const m = (value: (round: Round) => number) => median(rounds.map(value));
  const dbMs = m((r) => r.run.dbMs);
  const limit = m((r) => r.limit);
  const ratio = dbMs / limit;
  return [
    `${fleet.toLocaleString('en')} active reservations with a pod in the simulator for every one; ${due.toLocaleString('en')} are past deadline + grace. One scheduled expire run through the real handler, event delivery ON (Knative mode, a local sink answering 202), a clock moving with real time, MAX_ITEMS ${Math.max(200, due)}.`,
    `SQL statements count every statement of the run (runs table, single-flight lock, rails, reads, transactions, outbox lease and marking); DB time is how long at least one was in flight, as the client saw it. The limit is one statement doing the same writes for the same rows (\`WITH ended AS (UPDATE … RETURNING), outbox AS (INSERT INTO event_outbox …) INSERT INTO decision_log …\`), timed on the same data. Medians of ${context.rounds} rounds.`,
    '',
    '| active | due | expired | events delivered | wall | SQL statements | DB time | limit | × limit |',
    '|---|---|---|---|---|---|---|---|---|',
    `| ${fleet.toLocaleString('en')} | ${due.toLocaleString('en')} | ${m((r) => r.run.done)} | ${m((r) => r.delivered)} | ${fmt(m((r) => r.run.wallMs))} | ${m((r) => r.run.statements)} | ${fmt(dbMs)} | ${fmt(limit)} | ×${ratio.toFixed(2)} |`,
    '',
    `Target "expire's DB time within ${TARGET}× the single statement, statements O(batches)": ×${ratio.toFixed(2)} — ${ratio <= TARGET ? 'met' : 'MISSED'}; statements per round ${rounds.map((r) => r.run.statements).join(' / ')}.`,
    `The statement count is exact and fixed per batch of ${BATCH_SIZE.toLocaleString('en')} (test/integration/expire-statements.test.ts: four per batch — begin, the compare-and-set UPDATE with its decisions in one statement, the outbox rows, commit — plus the run's pod observations with the first, and one UPDATE marks every delivered event). The run's DB time is as the client sees it: the simulator (a pod for every reservation) and the sink answer from the benchmark's own process, so event-loop waits count in it, and each of the run's fixed statements (runs table, single-flight lock, reads, outbox lease, marking, backlog) costs about as much as a whole batch on a loaded machine.`,
  ];
}

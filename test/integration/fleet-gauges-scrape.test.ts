/*
 * pod-watch's fleet gauges match the database after each step of a seeded sequence: every gauge
 * read from /metrics is compared with a plain count of the tables (written here independently of
 * the product's query), with ages measured from the injected clock. Warning lateness counts each
 * sent warning once, a late commit included, and none sent before pod-watch started. A database
 * that cannot be read hides the gauges instead of serving stale ones. GET /why answers 400/404/200.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPodWatchConfig } from '../../pod-watch/config.js';
import { startPodWatch } from '../../pod-watch/run.js';
import type { PodWatch } from '../../pod-watch/run.js';
import { ManualClock } from '../../shared/clock.js';
import { FUNCTION_NAMES } from '../../shared/runtime/invocation.js';
import { startSim } from '../../sim/server.js';
import type { Sim } from '../../sim/server.js';
import { simProductEnv } from '../../sim/product-env.js';
import { useTestDatabase } from '../support/database.js';
import { insertLab, insertReservation } from '../support/fixtures.js';

const db = useTestDatabase();
const clock = new ManualClock('2026-06-01T12:00:00Z');
const POLICY = {
  GRACE_PERIOD_SECONDS: '120',
  PREPARING_TIMEOUT_MINUTES: '60',
  QUEUE_TIMEOUT_HOURS: '48',
  WATCHDOG_OLDER_THAN_MINUTES: '30',
};
let sim: Sim;
let podWatch: PodWatch;

const ago = (minutes: number) => new Date(clock.now().getTime() - minutes * 60_000);
const q = async (sql: string, params: unknown[] = []) => (await db.pool.query(sql, params)).rows;

function start(databaseUrl: string): Promise<PodWatch> {
  const env = {
    DATABASE_URL: databaseUrl,
    ...simProductEnv(sim),
    POD_WATCH_PORT: '0',
    OPENFAAS_GATEWAY_URL: 'http://127.0.0.1:1',
    LOG_LEVEL: 'silent',
    ...POLICY,
  };
  return startPodWatch(loadPodWatchConfig(env), { clock, host: '127.0.0.1' });
}

beforeAll(async () => {
  sim = await startSim({ clock });
  // Sent before pod-watch starts: history, never counted as a new warning.
  await insertReservation(db.pool, { reservation_id: 'history-1', status: 'expired', status_changed_at: ago(600) });
  await sentWarning('history-1', ago(610), 30, ago(640));
  podWatch = await start(db.url);
});
afterAll(async () => {
  await podWatch?.stop(100);
  await sim?.close();
});

/** The fleet series of one scrape, by name and labels as Prometheus prints them. */
async function scrape(target = podWatch): Promise<Map<string, number>> {
  const text = await (await fetch(`${target.health.url}/metrics`)).text();
  return new Map(
    text
      .split('\n')
      .filter((line) => line.startsWith('devenv_lifecycle_fleet_'))
      .map((line) => [line.slice(0, line.lastIndexOf(' ')), Number(line.slice(line.lastIndexOf(' ') + 1))]),
  );
}

const seconds = (at: Date | null | undefined) => (at ? (clock.now().getTime() - new Date(at).getTime()) / 1000 : 0);

/** What the gauges must say, counted straight from the tables. */
async function expected(): Promise<Map<string, number>> {
  const e = new Map<string, number>([['devenv_lifecycle_fleet_up', 1]]);
  const set = (name: string, labels: string, value: number) =>
    e.set(`devenv_lifecycle_fleet_${name}${labels ? `{${labels}}` : ''}`, value);
  const now = clock.now();
  for (const status of ['queued', 'pending', 'preparing', 'active']) {
    const [row] = await q(
      `select count(*)::int n, min(status_changed_at) oldest,
        count(*) filter (where status_changed_at < $2::timestamptz - case when status = 'preparing' then interval '60 minutes' else interval '48 hours' end)::int stuck
      from reservations where status = $1 group by status`,
      [status, now],
    );
    set('reservations', `status="${status}"`, row?.n ?? 0);
    if (status !== 'active') {
      set('stuck', `entity="reservation",status="${status}"`, row?.stuck ?? 0);
      set('waiting_oldest_seconds', `entity="reservation",status="${status}"`, seconds(row?.oldest));
    }
  }
  const [lab] = await q(
    `select count(*) filter (where ending_since < $1::timestamptz - interval '30 minutes')::int stuck, min(ending_since) oldest from labs where status = 'ending'`,
    [now],
  );
  set('stuck', 'entity="lab",status="ending"', lab.stuck);
  set('waiting_oldest_seconds', 'entity="lab",status="ending"', seconds(lab.oldest));
  const [overdue] = await q(
    `select count(*)::int n, min(expires_at) oldest from reservations where status = 'active' and expires_at < $1::timestamptz - interval '120 seconds'`,
    [now],
  );
  set('overdue_active', '', overdue.n);
  set('overdue_oldest_seconds', '', seconds(overdue.oldest));
  for (const step of ['delete_resources', 'await_gone', 'await_detach', 'request_snapshot', 'release_disk', 'verify']) {
    set(
      'teardowns_in_progress',
      `step="${step}"`,
      (await q('select count(*)::int n from cleanup_progress where step = $1', [step]))[0].n,
    );
  }
  set(
    'teardown_oldest_seconds',
    '',
    seconds((await q(`select min(started_at) m from cleanup_progress where step <> 'done'`))[0].m),
  );
  const [snap] = await q(
    `select count(*)::int n, min(requested_at) m from snapshots where state in ('requested', 'pending')`,
  );
  set('snapshots_pending', '', snap.n);
  set('snapshot_pending_oldest_seconds', '', seconds(snap.m));
  const [outbox] =
    await q(`select count(*) filter (where delivered_at is null and dead_at is null)::int backlog, count(*) filter (where dead_at is not null)::int dead,
      min(created_at) filter (where delivered_at is null and dead_at is null) oldest from event_outbox`);
  set('outbox_backlog', '', outbox.backlog);
  set('outbox_oldest_seconds', '', seconds(outbox.oldest));
  set('outbox_dead_letters', '', outbox.dead);
  for (const fn of FUNCTION_NAMES) {
    const [last] = await q(
      `select max(finished_at) m from function_runs where function = $1 and outcome = 'succeeded'`,
      [fn],
    );
    set('last_success_timestamp_seconds', `function="${fn}"`, last.m ? new Date(last.m).getTime() / 1000 : 0);
    set(
      'halted_runs',
      `function="${fn}"`,
      (
        await q(
          `select count(*)::int n from function_runs where function = $1 and outcome = 'halted' and started_at > $2::timestamptz - interval '24 hours'`,
          [fn, now],
        )
      )[0].n,
    );
  }
  return e;
}

async function expectGaugesMatchDatabase(): Promise<Map<string, number>> {
  const scraped = await scrape();
  const gauges = new Map(
    [...scraped].filter(([key]) => !key.includes('warning_lateness') && !key.includes('collect_errors')),
  );
  expect(Object.fromEntries(gauges)).toEqual(Object.fromEntries(await expected()));
  return scraped;
}

async function sentWarning(reservationId: string, expiresAt: Date, level: number, sentAt: Date): Promise<void> {
  await db.pool.query(
    `insert into warning_ledger (reservation_id, expires_at, level_minutes, state, first_attempt_at, sent_at) values ($1, $2, $3, 'sent', $4, $4)`,
    [reservationId, expiresAt, level, sentAt],
  );
}

async function run(fn: string, outcome: string, finishedAt: Date): Promise<void> {
  await db.pool.query(
    `insert into function_runs (id, function, trigger, started_at, finished_at, outcome) values ($1, $2, 'schedule', $3, $3, $4)`,
    [randomUUID(), fn, finishedAt, outcome],
  );
}

const lateness = (scraped: Map<string, number>, level: number, suffix: string) =>
  scraped.get(`devenv_lifecycle_fleet_warning_lateness_seconds_${suffix}{level="${level}"}`) ?? 0;

describe('fleet gauges served by pod-watch', () => {
  it('step 0: an empty fleet is all zeros, not missing series; history is not counted as lateness', async () => {
    const scraped = await expectGaugesMatchDatabase();
    expect(scraped.get('devenv_lifecycle_fleet_reservations{status="active"}')).toBe(0);
    expect(lateness(scraped, 30, 'count')).toBe(0);
  });

  it('step 1: reservations by status, overdue, stuck by status and age, a lab stuck ending', async () => {
    await insertReservation(db.pool, { reservation_id: 'overdue', expires_at: ago(12) });
    await insertReservation(db.pool, { reservation_id: 'in-grace', expires_at: ago(1) });
    await insertReservation(db.pool, { reservation_id: 'fine', expires_at: ago(-60) });
    await insertReservation(db.pool, { reservation_id: 'no-deadline', expires_at: null });
    await insertReservation(db.pool, {
      reservation_id: 'queued-old',
      status: 'queued',
      status_changed_at: ago(50 * 60),
    });
    await insertReservation(db.pool, { reservation_id: 'queued-new', status: 'queued', status_changed_at: ago(60) });
    await insertReservation(db.pool, {
      reservation_id: 'preparing-stuck',
      status: 'preparing',
      status_changed_at: ago(120),
    });
    await insertLab(db.pool, { status: 'ending', ending_since: ago(45) });
    await insertLab(db.pool, { status: 'ending', ending_since: ago(5) });
    const scraped = await expectGaugesMatchDatabase();
    expect(scraped.get('devenv_lifecycle_fleet_overdue_active')).toBe(1);
    expect(scraped.get('devenv_lifecycle_fleet_overdue_oldest_seconds')).toBe(12 * 60);
    expect(scraped.get('devenv_lifecycle_fleet_stuck{entity="reservation",status="queued"}')).toBe(1);
    expect(scraped.get('devenv_lifecycle_fleet_waiting_oldest_seconds{entity="reservation",status="queued"}')).toBe(
      50 * 3600,
    );
    expect(scraped.get('devenv_lifecycle_fleet_stuck{entity="lab",status="ending"}')).toBe(1);
  });

  it('step 2: expiry, teardowns, pending snapshots, the outbox and the last success of each function', async () => {
    clock.advanceMinutes(3);
    await db.pool.query(
      `update reservations set status = 'expired', status_changed_at = $1 where reservation_id = 'overdue'`,
      [clock.now()],
    );
    await db.pool.query(
      `insert into cleanup_progress (reservation_id, step, next_attempt_at, started_at, updated_at, completed_at) values
      ('overdue', 'await_gone', $1, $2, $1, null), ('history-1', 'done', $1, $3, $1, $1)`,
      [clock.now(), ago(20), ago(500)],
    );
    await db.pool.query(
      `insert into snapshots (reservation_id, volume_id, user_id, state, snapshot_id, requested_at) values
      ('overdue', 'vol-1', 'u', 'pending', 'snap-1', $1), ('history-1', 'vol-2', 'u', 'completed', 'snap-2', $2)`,
      [ago(7), ago(400)],
    );
    await db.pool.query(
      `insert into event_outbox (event_id, destination, type, source, data, created_at, available_at, delivered_at, dead_at, dead_reason) values
      (gen_random_uuid(), 'cleanup-pod', 't', 's', '{}', $1, $1, null, null, null),
      (gen_random_uuid(), 'cleanup-pod', 't', 's', '{}', $2, $2, null, null, null),
      (gen_random_uuid(), 'cleanup-pod', 't', 's', '{}', $2, $2, $2, null, null),
      (gen_random_uuid(), 'snapshot-sync', 't', 's', '{}', $2, $2, null, $2, 'rejected')`,
      [ago(9), ago(1)],
    );
    await run('warn', 'succeeded', ago(2));
    await run('expire', 'succeeded', ago(30));
    await run('expire', 'failed', ago(1)); // a later failure does not move the last success
    const scraped = await expectGaugesMatchDatabase();
    expect(scraped.get('devenv_lifecycle_fleet_reservations{status="active"}')).toBe(3);
    expect(scraped.get('devenv_lifecycle_fleet_teardowns_in_progress{step="await_gone"}')).toBe(1);
    expect(scraped.get('devenv_lifecycle_fleet_snapshot_pending_oldest_seconds')).toBe(7 * 60);
    expect(scraped.get('devenv_lifecycle_fleet_outbox_backlog')).toBe(2);
    expect(scraped.get('devenv_lifecycle_fleet_outbox_dead_letters')).toBe(1);
    expect(scraped.get('devenv_lifecycle_fleet_last_success_timestamp_seconds{function="expire"}')).toBe(
      ago(30).getTime() / 1000,
    );
    expect(scraped.get('devenv_lifecycle_fleet_last_success_timestamp_seconds{function="oom-scan"}')).toBe(0);
  });

  it('step 3: warning lateness counts each sent warning once, a late commit included', async () => {
    const deadline = new Date(clock.now().getTime() + 20 * 60_000);
    // The 30-minute level of a deadline 20 minutes away came 10 minutes ago.
    await sentWarning('fine', deadline, 30, ago(9.5)); // 30 s late
    await sentWarning('in-grace', deadline, 30, ago(3)); // 7 minutes late
    let scraped = await expectGaugesMatchDatabase();
    expect(lateness(scraped, 30, 'count')).toBe(2);
    expect(lateness(scraped, 30, 'sum')).toBe(30 + 420);
    expect(scraped.get('devenv_lifecycle_fleet_warning_lateness_seconds_bucket{le="30",level="30"}')).toBe(1);
    expect(scraped.get('devenv_lifecycle_fleet_warning_lateness_seconds_bucket{le="600",level="30"}')).toBe(2);

    scraped = await scrape();
    expect(lateness(scraped, 30, 'count')).toBe(2); // a second scrape counts nothing again

    // A run that stamped its send before the newest one seen commits afterwards.
    await sentWarning('no-deadline', deadline, 30, ago(5));
    await sentWarning('fine', deadline, 15, ago(-0.5)); // 15 min level due 5 min from now: sent early, lateness 0
    scraped = await expectGaugesMatchDatabase();
    expect(lateness(scraped, 30, 'count')).toBe(3);
    expect(lateness(scraped, 30, 'sum')).toBe(30 + 420 + 300);
    expect(lateness(scraped, 15, 'count')).toBe(1);
    expect(lateness(scraped, 15, 'sum')).toBe(0);
  });

  it('step 4: halted runs of the last 24 hours, per function (the outcome a later migration allows)', async () => {
    await db.pool.query('alter table function_runs drop constraint function_runs_outcome_known');
    await run('expire', 'halted', ago(10));
    await run('expire', 'halted', ago(25 * 60)); // older than a day
    const scraped = await expectGaugesMatchDatabase();
    expect(scraped.get('devenv_lifecycle_fleet_halted_runs{function="expire"}')).toBe(1);
    expect(scraped.get('devenv_lifecycle_fleet_halted_runs{function="warn"}')).toBe(0);
  });

  it('hides the gauges when the database cannot be read, and says so', async () => {
    const broken = await start('postgres://nobody:x@127.0.0.1:1/none');
    try {
      const scraped = await scrape(broken);
      expect(scraped.get('devenv_lifecycle_fleet_up')).toBe(0);
      expect(scraped.get('devenv_lifecycle_fleet_collect_errors_total')).toBe(1);
      expect([...scraped.keys()].filter((key) => key.startsWith('devenv_lifecycle_fleet_reservations'))).toEqual([]);
    } finally {
      await broken.stop(100);
    }
  });
});

describe('GET /why/<id> on pod-watch', () => {
  it('answers 400 for an id that cannot be one, 404 for an unknown one, 200 with the timeline for a known one', async () => {
    const bad = await fetch(`${podWatch.health.url}/why/${encodeURIComponent('two\nlines')}`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ type: 'urn:devenv-lifecycle:problem:invalid-input', status: 400 });
    const unknown = await fetch(`${podWatch.health.url}/why/nobody-knows`);
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toBe('application/problem+json');
    const known = await fetch(`${podWatch.health.url}/why/overdue`);
    expect(known.status).toBe(200);
    expect(await known.json()).toMatchObject({
      id: 'overdue',
      kind: 'reservation',
      summary: { status: 'expired', user: '****le.com' },
    });
  });
});

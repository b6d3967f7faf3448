/*
 * The fleet as gauges (pod-watch serves them, so they exist between function runs): one statement
 * per scrape, each part an index range over what is live (partial indexes of 0002, 0005, 0013 and
 * 0016), never over the history, so it costs the same at 100,000 reservations as at 100. Ages are
 * measured from the caller's clock.
 */
import type { Db } from '../pool.js';

export interface FleetPolicy {
  /** expire ends an active reservation this long after its deadline. */
  graceSeconds: number;
  preparingTimeoutMinutes: number;
  queueTimeoutHours: number;
  /** ending-watchdog finishes labs ENDING for longer than this. */
  watchdogOlderThanMinutes: number;
}

export const WAITING_STATUSES = ['queued', 'pending', 'preparing'] as const;
export const LIVE_STATUSES = [...WAITING_STATUSES, 'active'] as const;
export const TEARDOWN_STEPS = [
  'delete_resources',
  'await_gone',
  'await_detach',
  'request_snapshot',
  'release_disk',
  'verify',
] as const;

export interface WaitingGroup {
  entity: 'reservation' | 'lab';
  status: string;
  /** Past the time the functions allow for this status. */
  stuck: number;
  oldestSeconds: number | null;
}

export interface FleetReading {
  reservations: Record<string, number>;
  overdueActive: number;
  overdueOldestSeconds: number | null;
  waiting: WaitingGroup[];
  teardowns: Record<string, number>;
  teardownOldestSeconds: number | null;
  snapshotsPending: number;
  snapshotPendingOldestSeconds: number | null;
  outboxBacklog: number;
  outboxOldestSeconds: number | null;
  outboxDead: number;
  /** Finish time of the newest succeeded run, per function that has one. */
  lastSuccess: Record<string, Date>;
  /** Runs that ended `halted` in the last 24 hours, per function. */
  halted: Record<string, number>;
}

const age = (column: string) => `extract(epoch from ($1::timestamptz - ${column}))::float8`;

const FLEET_SQL = `
select
  (select coalesce(jsonb_object_agg(status, n), '{}') from (
     select status, count(*)::int n from reservations where status in ('queued', 'pending', 'preparing', 'active') group by status) s) as reservations,
  (select count(*)::int from reservations where status = 'active' and expires_at < $1::timestamptz - make_interval(secs => $2)) as overdue_active,
  (select ${age('min(expires_at)')} from reservations where status = 'active' and expires_at < $1::timestamptz - make_interval(secs => $2)) as overdue_oldest,
  (select coalesce(jsonb_agg(w), '[]') from (
     select 'reservation' as entity, status,
            count(*) filter (where status_changed_at < $1::timestamptz - case when status = 'preparing' then make_interval(mins => $3) else make_interval(hours => $4) end)::int as stuck,
            ${age('min(status_changed_at)')} as "oldestSeconds"
     from reservations where status in ('queued', 'pending', 'preparing') group by status
     union all
     select 'lab', 'ending', count(*) filter (where ending_since < $1::timestamptz - make_interval(mins => $5))::int, ${age('min(ending_since)')}
     from labs where status = 'ending' having count(*) > 0) w) as waiting,
  (select coalesce(jsonb_object_agg(step, n), '{}') from (
     select step, count(*)::int n from cleanup_progress where step <> 'done' group by step) t) as teardowns,
  (select ${age('min(started_at)')} from cleanup_progress where step <> 'done') as teardown_oldest,
  (select count(*)::int from snapshots where state in ('requested', 'pending')) as snapshots_pending,
  (select ${age('min(requested_at)')} from snapshots where state in ('requested', 'pending')) as snapshot_oldest,
  (select count(*)::int from event_outbox where delivered_at is null and dead_at is null) as outbox_backlog,
  (select ${age('min(created_at)')} from event_outbox where delivered_at is null and dead_at is null) as outbox_oldest,
  (select count(*)::int from event_outbox where dead_at is not null) as outbox_dead,
  (select coalesce(jsonb_object_agg(f.name, last.finished_at), '{}') from unnest($6::text[]) as f(name)
     cross join lateral (select finished_at from function_runs
                         where function = f.name and outcome = 'succeeded' order by finished_at desc limit 1) last) as last_success,
  (select coalesce(jsonb_object_agg(function, n), '{}') from (
     select function, count(*)::int n from function_runs
     where outcome = 'halted' and started_at > $1::timestamptz - interval '24 hours' group by function) h) as halted`;

interface FleetRow {
  reservations: Record<string, number>;
  overdue_active: number;
  overdue_oldest: number | null;
  waiting: WaitingGroup[];
  teardowns: Record<string, number>;
  teardown_oldest: number | null;
  snapshots_pending: number;
  snapshot_oldest: number | null;
  outbox_backlog: number;
  outbox_oldest: number | null;
  outbox_dead: number;
  last_success: Record<string, string>;
  halted: Record<string, number>;
}

export async function readFleet(
  db: Db,
  now: Date,
  policy: FleetPolicy,
  functions: readonly string[],
): Promise<FleetReading> {
  const { rows } = await db.query<FleetRow>(FLEET_SQL, [
    now,
    policy.graceSeconds,
    policy.preparingTimeoutMinutes,
    policy.queueTimeoutHours,
    policy.watchdogOlderThanMinutes,
    functions,
  ]);
  const r = rows[0]!;
  return {
    reservations: r.reservations,
    overdueActive: r.overdue_active,
    overdueOldestSeconds: r.overdue_oldest,
    waiting: r.waiting,
    teardowns: r.teardowns,
    teardownOldestSeconds: r.teardown_oldest,
    snapshotsPending: r.snapshots_pending,
    snapshotPendingOldestSeconds: r.snapshot_oldest,
    outboxBacklog: r.outbox_backlog,
    outboxOldestSeconds: r.outbox_oldest,
    outboxDead: r.outbox_dead,
    lastSuccess: Object.fromEntries(Object.entries(r.last_success).map(([fn, at]) => [fn, new Date(at)])),
    halted: r.halted,
  };
}

export interface SentWarning {
  key: string;
  levelMinutes: number;
  sentAt: Date;
  /** Sent time minus the level's time (the deadline less the level), never negative. */
  latenessSeconds: number;
}

/** Warnings sent after `after`, oldest first, at most `limit` (warning_ledger_sent_at, 0016). */
export async function warningsSentAfter(db: Db, after: Date, limit: number): Promise<SentWarning[]> {
  const { rows } = await db.query<{ key: string; level_minutes: number; sent_at: Date; lateness: number }>(
    `select concat_ws(' ', reservation_id, expires_at::text, level_minutes::text) as key, level_minutes, sent_at,
            greatest(0, extract(epoch from (sent_at - (expires_at - make_interval(mins => level_minutes)))))::float8 as lateness
     from warning_ledger where state = 'sent' and sent_at > $1 order by sent_at limit $2`,
    [after, limit],
  );
  return rows.map((row) => ({
    key: row.key,
    levelMinutes: row.level_minutes,
    sentAt: row.sent_at,
    latenessSeconds: row.lateness,
  }));
}

/** The newest sent time in the ledger: where a new collector starts counting. */
export async function newestWarningSentAt(db: Db): Promise<Date | null> {
  const { rows } = await db.query<{ at: Date | null }>(
    `select max(sent_at) as at from warning_ledger where state = 'sent'`,
  );
  return rows[0]?.at ?? null;
}

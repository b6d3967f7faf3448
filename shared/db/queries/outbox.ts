/*
 * The event outbox. Rows are written in the same transaction as the state change they announce,
 * leased with SKIP LOCKED so two runners never send the same row at once, and released with a
 * backoff when delivery fails. A lease that outlives a crashed runner simply expires. A row that
 * can never be delivered is dead-lettered: kept with its reason, never retried until requeued.
 */
import type { Db } from '../pool.js';

export interface OutboxEventInput {
  eventId: string;
  destination: string;
  type: string;
  source: string;
  subject?: string;
  data: unknown;
  traceparent?: string;
}

export interface OutboxRow {
  id: string;
  event_id: string;
  destination: string;
  type: string;
  source: string;
  subject: string | null;
  data: unknown;
  traceparent: string | null;
  created_at: Date;
  attempts: number;
}

/** Insert events (one row per destination); a repeated (event, destination) is ignored. */
export async function enqueueEvents(db: Db, events: OutboxEventInput[], now: Date): Promise<number> {
  if (events.length === 0) return 0;
  const result = await db.query(
    `insert into event_outbox (event_id, destination, type, source, subject, data, traceparent, created_at, available_at)
     select e.event_id, e.destination, e.type, e.source, e.subject, e.data, e.traceparent, $2, $2
     from jsonb_to_recordset($1::jsonb) as e(event_id uuid, destination text, type text, source text, subject text, data jsonb, traceparent text)
     on conflict (event_id, destination) do nothing`,
    [JSON.stringify(events.map(toRecord)), now],
  );
  return result.rowCount ?? 0;
}

function toRecord(event: OutboxEventInput) {
  return {
    event_id: event.eventId,
    destination: event.destination,
    type: event.type,
    source: event.source,
    subject: event.subject ?? null,
    data: event.data,
    traceparent: event.traceparent ?? null,
  };
}

export interface LeaseRequest {
  owner: string;
  now: Date;
  limit: number;
  leaseSeconds: number;
  /** Only these event ids (the events a run just wrote); all due events when absent. */
  eventIds?: string[];
}

export async function leaseDueEvents(db: Db, request: LeaseRequest): Promise<OutboxRow[]> {
  const { rows } = await db.query<OutboxRow>(
    `with due as (
       select id from event_outbox
       where delivered_at is null and dead_at is null and available_at <= $1
         and (lease_expires_at is null or lease_expires_at < $1)
         and ($5::uuid[] is null or event_id = any($5::uuid[]))
       order by available_at, id
       limit $3
       for update skip locked)
     update event_outbox o
     set lease_owner = $2, lease_expires_at = $1::timestamptz + make_interval(secs => $4), attempts = o.attempts + 1
     from due where o.id = due.id
     returning o.id, o.event_id, o.destination, o.type, o.source, o.subject, o.data, o.traceparent, o.created_at, o.attempts`,
    [request.now, request.owner, request.limit, request.leaseSeconds, request.eventIds ?? null],
  );
  return rows;
}

export async function markDelivered(db: Db, ids: string[], owner: string, now: Date): Promise<number> {
  const result = await db.query(
    `update event_outbox set delivered_at = $2, lease_owner = null, lease_expires_at = null, last_error = null
     where id = any($1::bigint[]) and lease_owner = $3 and delivered_at is null`,
    [ids, now, owner],
  );
  return result.rowCount ?? 0;
}

export async function markFailed(db: Db, id: string, owner: string, error: string, availableAt: Date): Promise<void> {
  await db.query(
    `update event_outbox set available_at = $4, last_error = $3, lease_owner = null, lease_expires_at = null
     where id = $1 and lease_owner = $2 and delivered_at is null`,
    [id, owner, error.slice(0, 2000), availableAt],
  );
}

/** Give back leased rows that were never sent (the run's time ran out first): due again at once, the attempt not counted. */
export async function releaseUnsent(db: Db, ids: string[], owner: string): Promise<number> {
  const result = await db.query(
    `update event_outbox set lease_owner = null, lease_expires_at = null, attempts = greatest(attempts - 1, 0)
     where id = any($1::bigint[]) and lease_owner = $2 and delivered_at is null`,
    [ids, owner],
  );
  return result.rowCount ?? 0;
}

/** Why a row will never be delivered: refused for good, not expressible as HTTP, or out of attempts. */
export type DeadReason = 'rejected' | 'unencodable' | 'exhausted' | 'knative';

export async function markDead(
  db: Db,
  id: string,
  owner: string,
  reason: DeadReason,
  error: string,
  now: Date,
): Promise<boolean> {
  const result = await db.query(
    `update event_outbox set dead_at = $4, dead_reason = $3, last_error = $5, lease_owner = null, lease_expires_at = null
     where id = $1 and lease_owner = $2 and delivered_at is null and dead_at is null`,
    [id, owner, reason, now, error.slice(0, 2000)],
  );
  return (result.rowCount ?? 0) > 0;
}

export interface DeadLetter {
  id: string;
  event_id: string;
  destination: string;
  type: string;
  subject: string | null;
  attempts: number;
  dead_at: Date;
  dead_reason: DeadReason;
  last_error: string | null;
}

export async function deadLetters(db: Db, limit: number): Promise<DeadLetter[]> {
  const { rows } = await db.query<DeadLetter>(
    `select id, event_id, destination, type, subject, attempts, dead_at, dead_reason, last_error
     from event_outbox where dead_at is not null order by dead_at desc, id desc limit $1`,
    [limit],
  );
  return rows;
}

/**
 * Give dead rows (these outbox ids or event ids, or all of them) a fresh set of attempts, due now.
 * The last error stays until the next attempt replaces it.
 */
export async function requeueDead(db: Db, filter: { ids?: string[]; eventIds?: string[] }, now: Date): Promise<number> {
  const result = await db.query(
    `update event_outbox set dead_at = null, dead_reason = null, attempts = 0, available_at = $3
     where dead_at is not null
       and ($1::bigint[] is null or id = any($1::bigint[]))
       and ($2::uuid[] is null or event_id = any($2::uuid[]))`,
    [filter.ids ?? null, filter.eventIds ?? null, now],
  );
  return result.rowCount ?? 0;
}

export interface OutboxBacklog {
  /** Waiting to be delivered (dead rows excluded: they wait for an operator, not for a retry). */
  undelivered: number;
  oldestCreatedAt: Date | null;
  dead: number;
}

export async function outboxBacklog(db: Db): Promise<OutboxBacklog> {
  const { rows } = await db.query<{ undelivered: string; oldest: Date | null; dead: string }>(
    `select count(*) as undelivered, min(created_at) as oldest,
            (select count(*) from event_outbox where dead_at is not null) as dead
     from event_outbox where delivered_at is null and dead_at is null`,
  );
  const row = rows[0];
  return {
    undelivered: Number(row?.undelivered ?? 0),
    oldestCreatedAt: row?.oldest ?? null,
    dead: Number(row?.dead ?? 0),
  };
}

const BASE_DELAY_SECONDS = 5;
const MAX_DELAY_SECONDS = 3600;

/** Exponential backoff per attempt: 5 s, 10 s, 20 s, … capped at an hour. */
export function redeliveryDelaySeconds(attempts: number): number {
  return Math.min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** Math.max(0, attempts - 1));
}

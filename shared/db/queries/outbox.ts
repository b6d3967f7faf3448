/*
 * The event outbox. Rows are written in the same transaction as the state change they announce
 * (a run's own rows already leased to it), leased with SKIP LOCKED so two runners never send the same row at once, and released with a
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

/** A lease taken with the insert: the run that wrote the rows sends them, nobody else before `until`. */
export interface InsertLease {
  owner: string;
  until: Date;
}

/**
 * Insert events (one row per destination); a repeated (event, destination) is ignored. With a lease
 * the rows are born leased to the writer, their first attempt counted: in the transaction of the
 * state change, so a rolled-back batch leaves no row to send, and after commit the writer sends them
 * without leasing them again. A writer killed before sending leaves them to the next runner once
 * the lease expires.
 */
export async function enqueueEvents(
  db: Db,
  events: OutboxEventInput[],
  now: Date,
  lease?: InsertLease,
): Promise<number> {
  if (events.length === 0) return 0;
  const staged = outboxRecords(events, now, lease);
  const result = await db.query(outboxInsertSql({ records: '$1', now: '$2', owner: '$3', until: '$4' }), [
    staged.records,
    staged.now,
    staged.owner,
    staged.until,
  ]);
  return result.rowCount ?? 0;
}

/** Outbox rows as the parameters of an insert (enqueueEvents', or one inside a caller's statement). */
export interface OutboxRecords {
  /** The rows as one JSON array (a single parameter, whatever their number). */
  records: string;
  now: Date;
  owner: string | null;
  until: Date | null;
}

export function outboxRecords(events: OutboxEventInput[], now: Date, lease?: InsertLease): OutboxRecords {
  return {
    records: JSON.stringify(events.map(toRecord)),
    now,
    owner: lease?.owner ?? null,
    until: lease?.until ?? null,
  };
}

/**
 * The outbox insert over OutboxRecords bound to the placeholders named, for enqueueEvents and for a
 * statement that writes a state change and its events in one round trip. `narrow` (a join or a
 * where clause on the records, aliased `e`) keeps only the rows the caller's change calls for.
 */
export function outboxInsertSql(
  params: { records: string; now: string; owner: string; until: string },
  narrow = '',
): string {
  const { records, now, owner, until } = params;
  return `insert into event_outbox (event_id, destination, type, source, subject, data, traceparent, created_at, available_at,
                               lease_owner, lease_expires_at, attempts)
     select e.event_id, e.destination, e.type, e.source, e.subject, e.data, e.traceparent, ${now}::timestamptz, ${now}::timestamptz,
            ${owner}::text, ${until}::timestamptz, case when ${owner}::text is null then 0 else 1 end
     from jsonb_to_recordset(${records}::jsonb) as e(event_id uuid, destination text, type text, source text, subject text, data jsonb, traceparent text)
     ${narrow}
     on conflict (event_id, destination) do nothing`;
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
  /** Rows of `eventIds` when given, else due rows of any event. */
  limit: number;
  leaseSeconds: number;
  /** Only these event ids (the events a run just wrote); all due events when absent. */
  eventIds?: string[];
  /** With `eventIds`: up to this many due rows of other events too, in the same statement (default 0). */
  others?: number;
  /**
   * Events the owner staged with a lease (enqueueEvents), by id, as it staged them: their rows it
   * still holds come back with this content rather than read back (parsing a thousand rows' data
   * costs more than the rest of the statement), and only rows that exist, i.e. were committed.
   */
  held?: ReadonlyMap<string, HeldEvent>;
}

export type HeldEvent = Omit<OutboxEventInput, 'eventId' | 'destination'>;

/** A leased row; `own` when its event is one of the request's `eventIds` or `held`. */
export type LeasedRow = OutboxRow & { own: boolean };

/**
 * Due rows, oldest first, leased with SKIP LOCKED: a row another runner holds is left to it. Rows of
 * `held` events the owner still holds (leased when they were inserted) come back in the same
 * statement, neither leased again nor counted as another attempt.
 */
export async function leaseDueEvents(db: Db, request: LeaseRequest): Promise<LeasedRow[]> {
  const eventIds = request.eventIds ?? null;
  const { rows } = await db.query<LeasedRow & { held: boolean }>(
    `with held as (
       select id, event_id, destination, created_at, attempts from event_outbox
       where event_id = any($7::uuid[]) and lease_owner = $2 and lease_expires_at >= $1
         and delivered_at is null and dead_at is null),
     own as (
       select id from event_outbox
       where delivered_at is null and dead_at is null and available_at <= $1
         and (lease_expires_at is null or lease_expires_at < $1)
         and $5::uuid[] is not null and event_id = any($5::uuid[])
       order by available_at, id
       limit $3
       for update skip locked),
     others as (
       select id from event_outbox
       where delivered_at is null and dead_at is null and available_at <= $1
         and (lease_expires_at is null or lease_expires_at < $1)
         and ($5::uuid[] is null or event_id <> all($5::uuid[]))
       order by available_at, id
       limit $6
       for update skip locked),
     due as (select id from own union all select id from others),
     leased as (
       update event_outbox o
       set lease_owner = $2, lease_expires_at = $1::timestamptz + make_interval(secs => $4), attempts = o.attempts + 1
       from due where o.id = due.id
       returning o.id, o.event_id, o.destination, o.type, o.source, o.subject, o.data, o.traceparent, o.created_at,
                 o.attempts, coalesce(o.event_id = any($5::uuid[]), false) as own, false as held)
     select * from leased
     union all
     select id, event_id, destination, null, null, null, null, null, created_at, attempts, true, true from held`,
    [
      request.now,
      request.owner,
      request.limit,
      request.leaseSeconds,
      eventIds,
      eventIds ? (request.others ?? 0) : request.limit,
      [...(request.held?.keys() ?? [])],
    ],
  );
  const filled = rows.map(({ held, ...row }) =>
    held ? { ...row, ...heldContent(request.held!.get(row.event_id)!) } : row,
  );
  // Oldest first, the request's own events before any other (the order they are sent in).
  return filled.sort((a, b) => Number(b.own) - Number(a.own) || Number(a.id) - Number(b.id));
}

function heldContent(event: HeldEvent) {
  const { subject = null, traceparent = null, ...rest } = event;
  return { ...rest, subject, traceparent };
}

export async function markDelivered(db: Db, ids: string[], owner: string, now: Date): Promise<number> {
  return (await markDeliveredReadingBacklog(db, ids, owner, now)).marked;
}

/**
 * Mark delivered rows, and in the same statement read the backlog as it is after the marking (the
 * count reads the statement's snapshot, before its own update: the rows it marked are taken off).
 */
export async function markDeliveredReadingBacklog(
  db: Db,
  ids: string[],
  owner: string,
  now: Date,
): Promise<{ marked: number; backlog: OutboxBacklog }> {
  const { rows } = await db.query<{ marked: number; undelivered: number; dead: number }>(
    `with marked as (
       update event_outbox set delivered_at = $2, lease_owner = null, lease_expires_at = null, last_error = null
       where id = any($1::bigint[]) and lease_owner = $3 and delivered_at is null
       returning dead_at)
     select (select count(*) from marked)::int as marked,
            ((select count(*) from event_outbox where delivered_at is null and dead_at is null)
              - (select count(*) from marked where dead_at is null))::int as undelivered,
            (select count(*) from event_outbox where dead_at is not null)::int as dead`,
    [ids, now, owner],
  );
  const row = rows[0]!;
  return { marked: row.marked, backlog: { undelivered: row.undelivered, dead: row.dead } };
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
  dead: number;
}

export async function outboxBacklog(db: Db): Promise<OutboxBacklog> {
  const { rows } = await db.query<OutboxBacklog>(
    `select (select count(*) from event_outbox where delivered_at is null and dead_at is null)::int as undelivered,
            (select count(*) from event_outbox where dead_at is not null)::int as dead`,
  );
  return rows[0]!;
}

const BASE_DELAY_SECONDS = 5;
const MAX_DELAY_SECONDS = 3600;

/** Exponential backoff per attempt: 5 s, 10 s, 20 s, … capped at an hour. */
export function redeliveryDelaySeconds(attempts: number): number {
  return Math.min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** Math.max(0, attempts - 1));
}

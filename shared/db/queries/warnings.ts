/*
 * The warning ledger: one row per (reservation, deadline, level). A run claims a level ('sending')
 * before it delivers, then records the outcome: sent, or failed with the error (retried by the next
 * run). A claim blocks every other run while its run may still be delivering it; one left behind by
 * a killed run is taken over and the pod file delivered again, without the broadcast (0008, SPEC
 * 2.1). The webhook notice is claimed before its post and never posted twice (0025).
 */
import type { Db } from '../pool.js';

export interface DeadlineKey {
  reservationId: string;
  expiresAt: Date;
}

export interface WarningOutcome extends DeadlineKey {
  levelMinutes: number;
  minutesLeft: number;
  delivered: boolean;
  error?: string;
  /** Queue the webhook channel for this warning (only when one is configured). */
  webhook: boolean;
}

/**
 * Record delivery attempts in one statement; returns the ones written. A level already recorded as
 * sent (another runner got there first) is left alone: the ledger never goes from sent back to failed.
 */
export async function recordWarnings<T extends WarningOutcome>(db: Db, outcomes: T[], now: Date): Promise<T[]> {
  if (outcomes.length === 0) return [];
  const { rows } = await db.query<LedgerKey>(
    `insert into warning_ledger as l (reservation_id, expires_at, level_minutes, state, last_error, minutes_left, first_attempt_at, sent_at, webhook_state)
     select o.reservation_id, o.expires_at, o.level_minutes, case when o.delivered then 'sent' else 'failed' end, o.error, o.minutes_left,
            $2, case when o.delivered then $2::timestamptz end, case when o.delivered and o.webhook then 'pending' end
     from jsonb_to_recordset($1::jsonb) as o(reservation_id text, expires_at timestamptz, level_minutes int, delivered boolean,
       error text, minutes_left int, webhook boolean)
     on conflict (reservation_id, expires_at, level_minutes) do update set
       state = excluded.state, last_error = excluded.last_error, minutes_left = excluded.minutes_left,
       sent_at = excluded.sent_at, webhook_state = excluded.webhook_state,
       attempts = l.attempts + case when l.state = 'sending' then 0 else 1 end
     where l.state <> 'sent'
     returning reservation_id, expires_at, level_minutes`,
    [JSON.stringify(outcomes.map(toRecord)), now],
  );
  const written = new Set(rows.map(keyOf));
  return outcomes.filter((outcome) =>
    written.has(
      keyOf({
        reservation_id: outcome.reservationId,
        expires_at: outcome.expiresAt,
        level_minutes: outcome.levelMinutes,
      }),
    ),
  );
}

interface LedgerKey {
  reservation_id: string;
  expires_at: Date;
  level_minutes: number;
}

const keyOf = (key: LedgerKey) => JSON.stringify([key.reservation_id, key.expires_at.getTime(), key.level_minutes]);

function toRecord(outcome: WarningOutcome) {
  return {
    reservation_id: outcome.reservationId,
    expires_at: outcome.expiresAt.toISOString(),
    level_minutes: outcome.levelMinutes,
    delivered: outcome.delivered,
    error: outcome.error ?? null,
    minutes_left: outcome.minutesLeft,
    webhook: outcome.webhook,
  };
}

export interface WarningClaim extends DeadlineKey {
  levelMinutes: number;
  minutesLeft: number;
}

/**
 * Claim levels before delivering them: a new row, a failed one, or a claim abandoned by a killed
 * run (older than `leaseSeconds`) becomes 'sending'. Returns the claims this call won; anything
 * else is sent, or being sent by another run.
 */
export async function claimWarnings<T extends WarningClaim>(
  db: Db,
  claims: T[],
  now: Date,
  leaseSeconds: number,
): Promise<T[]> {
  if (claims.length === 0) return [];
  const { rows } = await db.query<LedgerKey>(
    `insert into warning_ledger as l (reservation_id, expires_at, level_minutes, state, minutes_left, first_attempt_at, claimed_at)
     select c.reservation_id, c.expires_at, c.level_minutes, 'sending', c.minutes_left, $2, $2
     from jsonb_to_recordset($1::jsonb) as c(reservation_id text, expires_at timestamptz, level_minutes int, minutes_left int)
     on conflict (reservation_id, expires_at, level_minutes) do update set
       state = 'sending', claimed_at = excluded.claimed_at, minutes_left = excluded.minutes_left, attempts = l.attempts + 1
     where l.state = 'failed' or (l.state = 'sending' and l.claimed_at < $2::timestamptz - make_interval(secs => $3))
     returning reservation_id, expires_at, level_minutes`,
    [
      JSON.stringify(
        claims.map((c) => ({
          reservation_id: c.reservationId,
          expires_at: c.expiresAt.toISOString(),
          level_minutes: c.levelMinutes,
          minutes_left: c.minutesLeft,
        })),
      ),
      now,
      leaseSeconds,
    ],
  );
  const won = new Set(rows.map(keyOf));
  return claims.filter((claim) =>
    won.has(
      keyOf({ reservation_id: claim.reservationId, expires_at: claim.expiresAt, level_minutes: claim.levelMinutes }),
    ),
  );
}

export interface LedgerRow {
  reservation_id: string;
  level_minutes: number;
  state: 'sending' | 'sent' | 'failed';
  claimed_at: Date | null;
}

/** The ledger rows of each reservation's current deadline (claims with their time, so decide can tell abandoned ones). */
export async function ledgerFor(db: Db, keys: DeadlineKey[]): Promise<LedgerRow[]> {
  if (keys.length === 0) return [];
  const { rows } = await db.query<LedgerRow>(
    `select l.reservation_id, l.level_minutes, l.state, l.claimed_at
     from unnest($1::text[], $2::timestamptz[]) as d(reservation_id, expires_at)
     join warning_ledger l on l.reservation_id = d.reservation_id and l.expires_at = d.expires_at`,
    [keys.map((key) => key.reservationId), keys.map((key) => key.expiresAt)],
  );
  return rows;
}

export interface ClaimedReservation {
  reservation_id: string;
  expires_at: Date;
  pod_name: string | null;
  namespace: string | null;
}

/**
 * Active reservations whose claim on a level of their current deadline is older than any run can
 * last (through the claims index): their run was killed between the exec and the record. Only
 * gathers candidates; decide says whether the level is delivered again.
 */
export async function abandonedClaims(
  db: Db,
  now: Date,
  leaseSeconds: number,
  limit: number,
): Promise<ClaimedReservation[]> {
  const { rows } = await db.query<ClaimedReservation>(
    `select distinct r.reservation_id, r.expires_at, r.pod_name, r.namespace
     from warning_ledger l join reservations r on r.reservation_id = l.reservation_id
     where l.state = 'sending' and l.claimed_at < $1::timestamptz - make_interval(secs => $2)
       and r.status = 'active' and r.expires_at > $1::timestamptz and l.expires_at = date_trunc('milliseconds', r.expires_at)
     order by r.expires_at limit $3`,
    [now, leaseSeconds, limit],
  );
  return rows;
}

export interface PendingWebhook {
  reservation_id: string;
  expires_at: Date;
  level_minutes: number;
  minutes_left: number | null;
  webhook_attempts: number;
}

/** Warnings delivered in the pod whose webhook notice is still owed (bounded attempts). */
export async function pendingWebhooks(db: Db, maxAttempts: number, limit: number): Promise<PendingWebhook[]> {
  const { rows } = await db.query<PendingWebhook>(
    `select reservation_id, expires_at, level_minutes, minutes_left, webhook_attempts from warning_ledger
     where webhook_state in ('pending', 'failed') and webhook_attempts < $1
     order by first_attempt_at limit $2`,
    [maxAttempts, limit],
  );
  return rows;
}

/**
 * Claim owed webhook notices ('pending', or 'failed' with attempts left) before posting them,
 * counting the attempt. Returns the ones won. A 'sending' row is never claimed again: its run may
 * have posted before it was killed, and a webhook goes out at most once.
 */
export async function claimWebhooks(
  db: Db,
  keys: (DeadlineKey & { levelMinutes: number })[],
  maxAttempts: number,
): Promise<PendingWebhook[]> {
  if (keys.length === 0) return [];
  const { rows } = await db.query<PendingWebhook>(
    `update warning_ledger l set webhook_state = 'sending', webhook_attempts = l.webhook_attempts + 1
     from jsonb_to_recordset($1::jsonb) as k(reservation_id text, expires_at timestamptz, level_minutes int)
     where l.reservation_id = k.reservation_id and l.expires_at = k.expires_at and l.level_minutes = k.level_minutes
       and l.webhook_state in ('pending', 'failed') and l.webhook_attempts < $2
     returning l.reservation_id, l.expires_at, l.level_minutes, l.minutes_left, l.webhook_attempts`,
    [
      JSON.stringify(
        keys.map((k) => ({
          reservation_id: k.reservationId,
          expires_at: k.expiresAt.toISOString(),
          level_minutes: k.levelMinutes,
        })),
      ),
      maxAttempts,
    ],
  );
  return rows;
}

export interface WebhookOutcome extends DeadlineKey {
  levelMinutes: number;
  sent: boolean;
  error?: string;
}

/** Record the outcome of a run's claimed posts in one statement: sent, or failed (claimable again). */
export async function markWebhooks(db: Db, outcomes: WebhookOutcome[]): Promise<void> {
  if (outcomes.length === 0) return;
  await db.query(
    `update warning_ledger l set webhook_state = case when o.sent then 'sent' else 'failed' end,
       last_error = coalesce(o.error, l.last_error)
     from jsonb_to_recordset($1::jsonb) as o(reservation_id text, expires_at timestamptz, level_minutes int, sent boolean, error text)
     where l.reservation_id = o.reservation_id and l.expires_at = o.expires_at and l.level_minutes = o.level_minutes
       and l.webhook_state = 'sending'`,
    [
      JSON.stringify(
        outcomes.map((o) => ({
          reservation_id: o.reservationId,
          expires_at: o.expiresAt.toISOString(),
          level_minutes: o.levelMinutes,
          sent: o.sent,
          error: o.error ?? null,
        })),
      ),
    ],
  );
}

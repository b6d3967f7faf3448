/*
 * Short action links (migration 0028): a random id that stands for one signed action token. The
 * token keeps deciding everything; these rows only resolve the id. Written set-based, one
 * statement per warning; looked up by primary key.
 */
import type { Db } from '../pool.js';
import type { PrunableRow } from './actions.js';

export interface ShortLinkRow {
  shortId: string;
  token: string;
  reservationId: string;
  action: 'extend' | 'snooze' | 'end-now';
  deadline: Date;
  expiresAt: Date;
}

/** Store the ids of one warning's links in one statement. */
export async function insertShortLinks(db: Db, links: readonly ShortLinkRow[], now: Date): Promise<void> {
  if (links.length === 0) return;
  await db.query(
    `insert into action_links (short_id, token, reservation_id, action, deadline, expires_at, created_at)
     select * , $7::timestamptz from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[])`,
    [
      links.map((l) => l.shortId),
      links.map((l) => l.token),
      links.map((l) => l.reservationId),
      links.map((l) => l.action),
      links.map((l) => l.deadline),
      links.map((l) => l.expiresAt),
      now,
    ],
  );
}

/** The token a short id stands for; undefined when the id is unknown (never issued, or pruned). */
export async function tokenForShortId(db: Db, shortId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ token: string }>('select token from action_links where short_id = $1', [shortId]);
  return rows[0]?.token;
}

/** Short links whose token expired before `expiredBefore`, oldest first, through the expiry index. */
export async function expiredShortLinks(db: Db, expiredBefore: Date, limit: number): Promise<PrunableRow[]> {
  const { rows } = await db.query<PrunableRow>(
    `select short_id as "key", reservation_id as "reservationId", expires_at as "expiresAt" from action_links
     where expires_at < $1 order by expires_at limit $2`,
    [expiredBefore, limit],
  );
  return rows;
}

/** Forget these short ids if their token expired before `expiredBefore` (it alone refuses them then); answers the ones deleted. */
export async function deleteShortLinks(db: Db, shortIds: readonly string[], expiredBefore: Date): Promise<string[]> {
  if (shortIds.length === 0) return [];
  const { rows } = await db.query<{ short_id: string }>(
    'delete from action_links where short_id = any($1::text[]) and expires_at < $2 returning short_id',
    [shortIds, expiredBefore],
  );
  return rows.map((row) => row.short_id);
}

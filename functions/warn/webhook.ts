/*
 * warn's webhook notices (the channel is shared/notices/webhook.ts, the body webhook-payload.ts).
 * They follow the pod channel and never block it. Each batch is claimed ('sending') before it is
 * posted and marked after, one statement each, so a notice is posted at most once even when a run
 * is killed mid-post; a refused post is retried by later runs, a bounded number of times. Each
 * notice carries fresh action links for the deadline it is about.
 */
import { actionLinks } from '../../shared/actions/links.js';
import { claimWebhooks, markWebhooks } from '../../shared/db/queries/warnings.js';
import type { PendingWebhook } from '../../shared/db/queries/warnings.js';
import { postNotices } from '../../shared/notices/webhook.js';
import type { OwedWebhook } from './decide.js';
import { WEBHOOK_MAX_ATTEMPTS } from './load.js';
import type { WarnDeps } from './load.js';
import { jsonPayload, slackPayload } from './webhook-payload.js';

export const webhookKey = (owed: Pick<OwedWebhook, 'reservationId' | 'expiresAt' | 'levelMinutes'>) =>
  `${owed.reservationId}\u0000${owed.expiresAt.getTime()}\u0000${owed.levelMinutes}`;

/** Posted: undefined; refused: the error. A notice another run holds (or already sent) is absent. */
export async function sendWebhooks(
  deps: WarnDeps,
  owed: OwedWebhook[],
  now: Date,
): Promise<Map<string, string | undefined>> {
  const settings = deps.config.webhook;
  if (settings === undefined || owed.length === 0) return new Map();
  const claimed = await claimWebhooks(deps.pool, owed, WEBHOOK_MAX_ATTEMPTS);
  const errors = await postNotices(settings, claimed, (row) => payload(deps, row, now));
  const outcomes = claimed.map((row, index) => ({
    reservationId: row.reservation_id,
    expiresAt: row.expires_at,
    levelMinutes: row.level_minutes,
    sent: errors[index] === undefined,
    error: errors[index],
  }));
  await markWebhooks(deps.pool, outcomes);
  return new Map(outcomes.map((outcome) => [webhookKey(outcome), outcome.error]));
}

async function payload(deps: WarnDeps, row: PendingWebhook, now: Date) {
  const links = await actionLinks(
    deps.config.actions,
    { reservationId: row.reservation_id, deadline: row.expires_at, now },
    deps.pool,
  )
    // The short ids could not be stored: the long links still go out.
    .catch(() => actionLinks(deps.config.actions, { reservationId: row.reservation_id, deadline: row.expires_at, now }))
    .catch(() => []);
  const notice = {
    reservationId: row.reservation_id,
    levelMinutes: row.level_minutes,
    minutesLeft: row.minutes_left ?? row.level_minutes,
    expiresAt: row.expires_at,
    links,
  };
  return deps.config.webhook?.format === 'slack' ? slackPayload(notice) : jsonPayload(notice);
}

/*
 * warn's webhook notices (the POST itself is shared/webhook.ts). They run after the pod channel
 * and never block it: a notice that fails is retried by later runs, a bounded number of times,
 * and counted. The posts go out a few at a time; their outcomes are recorded in one statement.
 */
import type pg from 'pg';
import { markWebhooks, pendingWebhooks } from '../../shared/db/queries/warnings.js';
import type { PendingWebhook } from '../../shared/db/queries/warnings.js';
import { mapWithConcurrency } from '../../shared/resilience.js';
import { postWebhook } from '../../shared/webhook.js';
import { extendCommand, printable } from './message.js';
import type { WebhookSettings } from '../../shared/webhook.js';

const MAX_ATTEMPTS = 10;
const POSTS_IN_FLIGHT = 8;

export async function sendPendingWebhooks(pool: pg.Pool, webhook: WebhookSettings, limit: number): Promise<{ sent: number; failed: number }> {
  const pending = await pendingWebhooks(pool, MAX_ATTEMPTS, limit);
  const posted = await mapWithConcurrency(pending, POSTS_IN_FLIGHT, (row) => postWebhook(webhook, payload(row)));
  const outcomes = pending.map((row, index) => {
    const result = posted[index]!;
    const error = result.status === 'fulfilled' ? result.value : String(result.reason);
    return { reservationId: row.reservation_id, expiresAt: row.expires_at, levelMinutes: row.level_minutes, sent: error === undefined, error };
  });
  await markWebhooks(pool, outcomes);
  const sent = outcomes.filter((outcome) => outcome.sent).length;
  return { sent, failed: pending.length - sent };
}

function payload(row: PendingWebhook) {
  const minutes = row.minutes_left ?? row.level_minutes;
  return {
    text: `Reservation ${printable(row.reservation_id).slice(0, 8)} expires in ${minutes} minute(s), at ${row.expires_at.toISOString()}. Extend with: ${extendCommand(row.reservation_id)}`,
    type: 'reservation.warned',
    reservationId: row.reservation_id,
    levelMinutes: row.level_minutes,
    minutesLeft: minutes,
    expiresAt: row.expires_at.toISOString(),
  };
}

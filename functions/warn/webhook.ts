/*
 * warn's webhook notices (the POST itself is shared/webhook.ts, the body webhook-payload.ts). They
 * run after the pod channel and never block it: a notice that fails is retried by later runs, a
 * bounded number of times, and counted. The posts go out a few at a time; their outcomes are
 * recorded in one statement. Each notice carries fresh action links for the deadline it is about.
 */
import type pg from 'pg';
import { actionLinks } from '../../shared/actions/links.js';
import type { ActionSettings } from '../../shared/config.js';
import { markWebhooks, pendingWebhooks } from '../../shared/db/queries/warnings.js';
import type { PendingWebhook } from '../../shared/db/queries/warnings.js';
import { mapWithConcurrency } from '../../shared/resilience.js';
import { postWebhook } from '../../shared/webhook.js';
import type { WebhookSettings } from '../../shared/webhook.js';
import { jsonPayload, slackPayload } from './webhook-payload.js';

const MAX_ATTEMPTS = 10;
const POSTS_IN_FLIGHT = 8;

export interface WebhookRun {
  webhook: WebhookSettings;
  actions: ActionSettings;
  now: Date;
  limit: number;
}

export async function sendPendingWebhooks(pool: pg.Pool, run: WebhookRun): Promise<{ sent: number; failed: number }> {
  const pending = await pendingWebhooks(pool, MAX_ATTEMPTS, run.limit);
  const posted = await mapWithConcurrency(pending, POSTS_IN_FLIGHT, async (row) => postWebhook(run.webhook, await payload(run, row)));
  const outcomes = pending.map((row, index) => {
    const result = posted[index]!;
    const error = result.status === 'fulfilled' ? result.value : 'webhook failed: the notice could not be built';
    return { reservationId: row.reservation_id, expiresAt: row.expires_at, levelMinutes: row.level_minutes, sent: error === undefined, error };
  });
  await markWebhooks(pool, outcomes);
  const sent = outcomes.filter((outcome) => outcome.sent).length;
  return { sent, failed: pending.length - sent };
}

async function payload(run: WebhookRun, row: PendingWebhook) {
  const links = await actionLinks(run.actions, { reservationId: row.reservation_id, deadline: row.expires_at, now: run.now }).catch(() => []);
  const notice = { reservationId: row.reservation_id, levelMinutes: row.level_minutes, minutesLeft: row.minutes_left ?? row.level_minutes, expiresAt: row.expires_at, links };
  return run.webhook.format === 'slack' ? slackPayload(notice) : jsonPayload(notice);
}

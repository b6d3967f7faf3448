/*
 * The webhook channel of a notice: POST a JSON body per notice (shared/webhook.ts), a few at a
 * time. At most once (claims.ts): the caller claims the batch in its ledger before posting and
 * marks it after; a claim left by a killed run is never posted again, since the post may have
 * landed. A body that cannot be built fails only its own notice.
 */
import { mapWithConcurrency } from '../resilience.js';
import { postWebhook } from '../webhook.js';
import type { WebhookSettings } from '../webhook.js';

/** Posts in flight at once: a chat webhook rate-limits long before this matters. */
export const WEBHOOK_POSTS_IN_FLIGHT = 8;

/** One answer per notice, in order: undefined when the webhook answered 2xx, else what went wrong. */
export async function postNotices<N>(
  settings: WebhookSettings,
  notices: readonly N[],
  body: (notice: N) => unknown,
): Promise<(string | undefined)[]> {
  const posted = await mapWithConcurrency(notices, WEBHOOK_POSTS_IN_FLIGHT, async (notice) =>
    postWebhook(settings, await body(notice)),
  );
  return posted.map((result) =>
    result.status === 'fulfilled' ? result.value : 'webhook failed: the notice could not be built',
  );
}

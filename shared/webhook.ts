/*
 * The optional webhook channel (a Slack incoming webhook, or anything taking JSON): one POST with a
 * timeout. The answer is an error message or nothing, never a throw, so a caller records it and
 * retries in a later run.
 */
import { coerceError } from './errors.js';

export interface WebhookSettings {
  url: string;
  timeoutMs: number;
  /** How warn renders its notices: plain JSON, or Slack Block Kit with a button per action. */
  format?: 'json' | 'slack';
}

/** POST `body` as JSON; undefined when the webhook answered 2xx, else what went wrong. */
export async function postWebhook(webhook: WebhookSettings, body: unknown): Promise<string | undefined> {
  try {
    const response = await fetch(webhook.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(webhook.timeoutMs),
    });
    // Drain the body so the connection goes back to the pool.
    await response.arrayBuffer().catch(() => undefined);
    return response.ok ? undefined : `webhook answered HTTP ${response.status}`;
  } catch (err) {
    return `webhook failed: ${coerceError(err).message}`;
  }
}

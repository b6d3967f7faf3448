/*
 * Slack's side of the action links. Warn renders the links as Block Kit buttons whose value is
 * the link's token; Slack posts a click to the extend function's /slack endpoint, signed with the
 * app's signing secret (v0 HMAC-SHA256 of `v0:<timestamp>:<raw body>`), which is verified here
 * before anything is read from the payload.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ACTION_PATH_PREFIX } from './links.js';
import type { ActionLink } from './links.js';

/** Slack's own rule: a request older (or newer) than five minutes may be a replay. */
export const SLACK_MAX_SKEW_SECONDS = 300;
export const SLACK_ACTION_PREFIX = 'devenv-lifecycle:';

export type SlackVerdict = 'ok' | 'missing' | 'stale' | 'bad-signature';

export function verifySlackRequest(
  signingSecret: string,
  headers: Record<string, string>,
  rawBody: string,
  now: Date,
): SlackVerdict {
  const timestamp = headers['x-slack-request-timestamp'];
  const signature = headers['x-slack-signature'];
  if (!timestamp || !signature) return 'missing';
  if (!/^\d{1,12}$/.test(timestamp) || Math.abs(now.getTime() / 1000 - Number(timestamp)) > SLACK_MAX_SKEW_SECONDS)
    return 'stale';
  const expected = Buffer.from(slackSignature(signingSecret, timestamp, rawBody));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected) ? 'ok' : 'bad-signature';
}

export function slackSignature(signingSecret: string, timestamp: string, rawBody: string): string {
  return `v0=${createHmac('sha256', signingSecret).update(`v0:${timestamp}:${rawBody}`).digest('hex')}`;
}

/** Block Kit buttons for a warning's links (an actions block); empty when there are no links. */
export function slackButtons(links: ActionLink[]): object[] {
  if (links.length === 0) return [];
  const elements = links.map((link) => ({
    type: 'button',
    action_id: `${SLACK_ACTION_PREFIX}${link.action}`,
    text: { type: 'plain_text', text: link.label },
    value: link.url.slice(link.url.lastIndexOf(ACTION_PATH_PREFIX) + ACTION_PATH_PREFIX.length),
    ...(link.action === 'end-now' ? { style: 'danger', confirm: endNowConfirm } : {}),
  }));
  return [{ type: 'actions', elements }];
}

const endNowConfirm = {
  title: { type: 'plain_text', text: 'End the reservation now?' },
  text: { type: 'plain_text', text: 'The environment is torn down and its disk snapshotted. Unsaved work is lost.' },
  confirm: { type: 'plain_text', text: 'End now' },
  deny: { type: 'plain_text', text: 'Keep it' },
};

/*
 * After a Slack button click, the outcome replaces the original message (its buttons gone, the
 * answer in their place) through the click's `response_url`. Best effort: it is sent after the
 * answer to Slack is decided, never awaited by it, bounded by a timeout, and a failure is only
 * logged (without the URL: it is a credential for that message).
 */
import type { Logger } from 'pino';
import type { Answer } from './act.js';

/** Slack keeps a response_url valid for 30 minutes; a reply that takes longer than this is not worth waiting for. */
export const SLACK_REPLY_TIMEOUT_MS = 3_000;

export function slackReplyText(answer: Answer): string {
  if (answer.kind === 'done') return `Done: ${answer.detail}.`;
  const when = answer.possibleAt ? ` It may be possible after ${answer.possibleAt.toISOString()}.` : '';
  return `Not done (${answer.rule}): ${answer.detail}.${when} Nothing was changed.`;
}

export async function postSlackReply(
  responseUrl: string,
  answer: Answer,
  timeoutMs = SLACK_REPLY_TIMEOUT_MS,
): Promise<number> {
  const text = slackReplyText(answer);
  const response = await fetch(responseUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      replace_original: true,
      text,
      blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }],
    }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  await response.arrayBuffer().catch(() => undefined);
  return response.status;
}

/** Send the reply without holding up the caller; the promise is for tests and never rejects. */
export function replyToSlack(
  log: Logger,
  responseUrl: string | undefined,
  answer: Answer,
  timeoutMs?: number,
): Promise<void> {
  if (responseUrl === undefined) return Promise.resolve();
  return postSlackReply(responseUrl, answer, timeoutMs).then(
    (status) => {
      if (status >= 300) log.warn({ status }, 'Slack did not take the reply to a button click');
    },
    (err: unknown) =>
      log.warn({ err: { name: (err as Error)?.name, message: 'reply to Slack not sent' } }, 'Slack reply failed'),
  );
}

/*
 * The body of a warning's webhook notice, pure. JSON carries one URL per action; the Slack format
 * is Block Kit whose buttons (shared/actions/slack.ts, the extend function's own contract) carry
 * the action token as their value for its Slack interactive endpoint. A button has no `url`:
 * opening the confirmation page as well would offer the same action twice.
 */
import type { ActionLink } from '../../shared/actions/links.js';
import { slackButtons } from '../../shared/actions/slack.js';
import { extendCommand, printable } from './message.js';

export interface WarningNotice {
  reservationId: string;
  levelMinutes: number;
  minutesLeft: number;
  expiresAt: Date;
  links: readonly ActionLink[];
}

export function jsonPayload(notice: WarningNotice) {
  return {
    text: summary(notice),
    type: 'reservation.warned',
    reservationId: notice.reservationId,
    levelMinutes: notice.levelMinutes,
    minutesLeft: notice.minutesLeft,
    expiresAt: notice.expiresAt.toISOString(),
    actions: notice.links.map((link) => ({
      action: link.action,
      url: link.url,
      ...(link.shortUrl ? { shortUrl: link.shortUrl } : {}),
      label: link.label,
      expiresAt: link.expiresAt.toISOString(),
    })),
  };
}

export function slackPayload(notice: WarningNotice) {
  const blocks: object[] = [
    { type: 'section', text: { type: 'mrkdwn', text: escapeMrkdwn(summary(notice)) } },
    ...slackButtons([...notice.links]),
  ];
  if (notice.links.length > 0) {
    blocks.push({
      type: 'context',
      elements: [{ type: 'mrkdwn', text: `Buttons valid until ${notice.links[0]!.expiresAt.toISOString()}.` }],
    });
  }
  return { text: summary(notice), blocks };
}

function summary(notice: WarningNotice): string {
  return `Reservation ${printable(notice.reservationId).slice(0, 8)} expires in ${notice.minutesLeft} minute(s), at ${notice.expiresAt.toISOString()}. Extend with: ${extendCommand(notice.reservationId)}`;
}

// Slack's mrkdwn treats &, < and > as markup: an id must not forge a link or a mention.
function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/*
 * The body of a warning's webhook notice, pure. JSON carries one URL per action; the Slack format
 * is Block Kit with one button per action, whose `value` is the action token for the extend
 * function's Slack interactive endpoint (Slack posts the clicked button's value there; the
 * endpoint verifies Slack's signature, then the token). A button has no `url`: opening the
 * confirmation page as well would offer the same action twice.
 */
import type { ActionLink } from '../../shared/actions/links.js';
import { ACTION_PATH_PREFIX } from '../../shared/actions/links.js';
import { extendCommand, printable } from './message.js';

export interface WarningNotice {
  reservationId: string;
  levelMinutes: number;
  minutesLeft: number;
  expiresAt: Date;
  links: readonly ActionLink[];
}

/** The prefix of every button's action_id; the rest is the action (extend, snooze, end-now). */
export const SLACK_ACTION_PREFIX = 'devenv-lifecycle:';

export function jsonPayload(notice: WarningNotice) {
  return {
    text: summary(notice),
    type: 'reservation.warned',
    reservationId: notice.reservationId,
    levelMinutes: notice.levelMinutes,
    minutesLeft: notice.minutesLeft,
    expiresAt: notice.expiresAt.toISOString(),
    actions: notice.links.map((link) => ({ action: link.action, url: link.url, label: link.label, expiresAt: link.expiresAt.toISOString() })),
  };
}

export function slackPayload(notice: WarningNotice) {
  const blocks: object[] = [{ type: 'section', text: { type: 'mrkdwn', text: escapeMrkdwn(summary(notice)) } }];
  if (notice.links.length > 0) {
    blocks.push({
      type: 'actions',
      block_id: 'devenv-lifecycle-actions',
      elements: notice.links.map((link) => ({
        type: 'button',
        action_id: `${SLACK_ACTION_PREFIX}${link.action}`,
        text: { type: 'plain_text', text: link.label },
        value: tokenOf(link.url),
        ...(link.action === 'end-now' && { style: 'danger', confirm: endNowConfirm() }),
      })),
    });
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `Buttons valid until ${notice.links[0]!.expiresAt.toISOString()}.` }] });
  }
  return { text: summary(notice), blocks };
}

function summary(notice: WarningNotice): string {
  return `Reservation ${printable(notice.reservationId).slice(0, 8)} expires in ${notice.minutesLeft} minute(s), at ${notice.expiresAt.toISOString()}. Extend with: ${extendCommand(notice.reservationId)}`;
}

/** The token: the last path segment of an action link. */
export function tokenOf(url: string): string {
  const at = url.lastIndexOf(ACTION_PATH_PREFIX);
  return at === -1 ? url : url.slice(at + ACTION_PATH_PREFIX.length);
}

// Slack's mrkdwn treats &, < and > as markup: an id must not forge a link or a mention.
function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function endNowConfirm() {
  return {
    title: { type: 'plain_text', text: 'End the reservation now?' },
    text: { type: 'plain_text', text: 'The environment shuts down and its disk is snapshotted. Unsaved work is lost.' },
    confirm: { type: 'plain_text', text: 'End now' },
    deny: { type: 'plain_text', text: 'Keep it' },
  };
}

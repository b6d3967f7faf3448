/*
 * The small HTML pages of an action link: the confirmation a GET shows (what will happen, the
 * current deadline, the limits) with the form whose POST acts, and the result of that POST.
 * Every value is escaped; the pages load nothing and leak no referrer (the token is in the URL).
 */
import { formatMinutes } from '../../shared/actions/links.js';
import type { HttpAnswer } from '../../shared/runtime/problem.js';
import type { Answer, Preview } from './act.js';
import type { ActionPolicy, ActionRequest, Decision } from './decide.js';

const HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-robots-tag': 'noindex',
  'x-frame-options': 'DENY',
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
};

export function escapeHtml(value: string): string {
  return value.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

function page(status: number, title: string, body: string): HttpAnswer {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHtml(title)}</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:2em auto;padding:0 1em}
dt{font-weight:600}button{font-size:1em;padding:.5em 1.2em}.refused{color:#a00}</style></head>
<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
  return { status, headers: HEADERS, body: html };
}

const WHAT: Record<ActionRequest['kind'], (request: ActionRequest) => string> = {
  extend: (request) => `Extend reservation by ${formatMinutes(request.minutes ?? 0)}`,
  snooze: () => 'Snooze the remaining warnings',
  'end-now': () => 'End the reservation now',
};

export function confirmationPage(preview: Preview): HttpAnswer {
  const { decision, request, policy, reservationId } = preview;
  const facts = [
    ['Reservation', reservationId],
    ['Current deadline', String(decision.inputs.expiresAt ?? 'none')],
    ['What will happen', describe(decision)],
    ...limits(policy, decision),
  ];
  const list = `<dl>${facts.map(([term, value]) => `<dt>${escapeHtml(term!)}</dt><dd>${escapeHtml(value!)}</dd>`).join('')}</dl>`;
  const form =
    decision.verdict === 'refuse'
      ? `<p class="refused">This cannot be done now: ${escapeHtml(decision.reason)}</p>`
      : `<form method="post" action=""><input type="hidden" name="confirm" value="yes"><button type="submit">${escapeHtml(WHAT[request.kind](request))}</button></form>
<p>Opening this page changed nothing. The button acts once; the link then stops working.</p>`;
  return page(200, `${WHAT[request.kind](request)}?`, list + form);
}

function describe(decision: Decision): string {
  switch (decision.verdict) {
    case 'extend':
      return `The deadline moves from ${decision.expectedExpiresAt.toISOString()} to ${decision.newExpiresAt.toISOString()}.`;
    case 'snooze':
      return `No more warnings for the deadline ${decision.expectedExpiresAt.toISOString()}; the reservation still ends then.`;
    case 'end':
      return 'The reservation ends now: the environment is torn down and its disk snapshotted, as at expiry.';
    case 'refuse':
      return `Refused (${decision.rule}): ${decision.reason}`;
  }
}

function limits(policy: ActionPolicy, decision: Decision): string[][] {
  const used = decision.inputs.extensions;
  return [
    ['Longest extension', formatMinutes(policy.maxExtendMinutes)],
    ['Extensions', `${used ?? '–'} used of at most ${policy.maxExtensions}`],
    ['Longest lifetime', `${policy.maxLifetimeHours} hours from the start`],
    [
      'Capacity rule',
      policy.capacityRule ? 'no extension while reservations for the same GPU type are waiting' : 'off',
    ],
  ];
}

export function resultPage(answer: Answer): HttpAnswer {
  if (answer.kind === 'done') return page(200, 'Done', `<p>${escapeHtml(answer.detail)}.</p>`);
  const when = answer.possibleAt ? ` It may be possible after ${answer.possibleAt.toISOString()}.` : '';
  return page(
    answer.status,
    'Not done',
    `<p class="refused">${escapeHtml(answer.detail)}.${escapeHtml(when)}</p><p>Nothing was changed.</p>`,
  );
}

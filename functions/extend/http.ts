/*
 * extend's own routes. /a/<token> and its short form /a/<12-character id> (resolved to the stored
 * token, then treated exactly alike) are the action links. GET /a/… only shows a confirmation page: link previewers and mail
 * scanners fetch URLs, so a GET never acts. POST /a/<token> acts (JSON, or a small HTML page for
 * the page's own form). POST /slack takes Slack's interactive button clicks, verified by Slack's
 * signature and timestamp before anything in them is read; the outcome also replaces the clicked
 * message through its response_url (slack-reply.ts). Tokens never reach a log line.
 */
import { ACTION_PATH_PREFIX, SHORT_ID_SHAPE } from '../../shared/actions/links.js';
import { verifySlackRequest } from '../../shared/actions/slack.js';
import { tokenForShortId } from '../../shared/db/queries/action-links.js';
import type { OwnRoutes } from '../../shared/runtime/endpoint.js';
import { jsonAnswer } from '../../shared/runtime/problem.js';
import type { HttpAnswer } from '../../shared/runtime/problem.js';
import { refuseBeforeRun } from '../../shared/runtime/request-run.js';
import { normalizeHeaders } from '../../shared/runtime/request.js';
import type { RawRequest } from '../../shared/runtime/request.js';
import { act, checkToken, preview, requestOf } from './act.js';
import type { ActDeps, Answer } from './act.js';
import { confirmationPage, resultPage } from './page.js';
import { BodyError, parseActBody, parseSlackBody } from './parse.js';
import type { SlackClick } from './parse.js';
import { replyToSlack } from './slack-reply.js';

export const SLACK_PATH = '/slack';
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{1,1024}\.[A-Za-z0-9_-]{1,2048}\.[A-Za-z0-9_-]{0,512}$/;

export const extendRoutes: OwnRoutes<ActDeps> = async (request, context) => {
  if (request.path.startsWith(ACTION_PATH_PREFIX)) return linkRoute(request, await context());
  if (request.path === SLACK_PATH) return slackRoute(request, await context());
  return undefined;
};

async function linkRoute(request: RawRequest, deps: ActDeps): Promise<HttpAnswer> {
  const method = request.method.toUpperCase();
  if (method !== 'GET' && method !== 'POST')
    return problem(405, 'method-not-allowed', 'an action link answers GET (a confirmation page) and POST (act)', {
      allow: 'GET, POST',
    });
  const token = await resolveLink(deps, request.path.slice(ACTION_PATH_PREFIX.length));
  const headers = normalizeHeaders(request.headers);
  const html = method === 'GET' || isForm(headers);
  if (method === 'POST') {
    try {
      parseActBody(rawText(request), headers['content-type']);
    } catch (err) {
      if (err instanceof BodyError) return invalid(err);
      throw err;
    }
  }
  if (token === undefined)
    return render(html, {
      kind: 'refused',
      status: 404,
      rule: 'unknown-link',
      detail: 'no such action link (mistyped, or long expired); use the links of the newest warning',
    });
  if (!TOKEN_SHAPE.test(token))
    return render(html, {
      kind: 'refused',
      status: 401,
      rule: 'invalid-link',
      detail: 'this action link is not valid (altered, truncated or not ours)',
    });
  const claims = await checkToken(deps, token, method === 'GET' ? 'preview' : 'act');
  if ('kind' in claims) return render(html, claims);
  if (method === 'GET') return confirmationPage(await preview(deps, claims));
  return render(html, await act(deps, claims.reservationId, requestOf(claims, 'link'), claims));
}

/** A short link's id stands for its stored token (undefined when unknown); anything else is the token itself. */
async function resolveLink(deps: ActDeps, tail: string): Promise<string | undefined> {
  return SHORT_ID_SHAPE.test(tail) ? tokenForShortId(deps.pool, tail) : tail;
}

async function slackRoute(request: RawRequest, deps: ActDeps): Promise<HttpAnswer> {
  if (request.method.toUpperCase() !== 'POST')
    return problem(405, 'method-not-allowed', 'Slack posts interactions here', { allow: 'POST' });
  const secret = deps.config.actions.slackSigningSecret;
  if (secret === undefined)
    return problem(404, 'not-configured', 'the Slack endpoint is off: SLACK_SIGNING_SECRET is not set');
  const headers = normalizeHeaders(request.headers);
  const body = rawText(request);
  const verdict = verifySlackRequest(secret, headers, body, deps.clock.now());
  if (verdict !== 'ok') {
    await refuseBeforeRun(deps.run, 'extend', { kind: 'slack', outcome: 'unauthenticated' });
    const detail =
      verdict === 'stale'
        ? 'the request timestamp is missing or more than 5 minutes away'
        : 'the Slack signature is missing or wrong';
    return problem(401, verdict === 'stale' ? 'stale-request' : 'bad-signature', detail);
  }
  let click: SlackClick;
  try {
    click = parseSlackBody(body);
  } catch (err) {
    if (err instanceof BodyError) return invalid(err);
    throw err;
  }
  const answer = await slackAnswer(deps, click.token);
  // The message's buttons are replaced by the outcome; Slack's 200 never waits for that.
  void replyToSlack(deps.log, click.responseUrl, answer);
  return render(false, answer);
}

async function slackAnswer(deps: ActDeps, token: string): Promise<Answer> {
  if (!TOKEN_SHAPE.test(token))
    return { kind: 'refused', status: 401, rule: 'invalid-link', detail: 'the button carries no valid action token' };
  const claims = await checkToken(deps, token, 'act');
  if ('kind' in claims) return claims;
  return act(deps, claims.reservationId, requestOf(claims, 'slack'), claims);
}

function render(html: boolean, answer: Answer): HttpAnswer {
  if (html) return resultPage(answer);
  if (answer.kind === 'done') {
    return jsonAnswer(200, {
      status: 'done',
      reservationId: answer.reservationId,
      action: answer.action,
      detail: answer.detail,
      expiresAt: answer.expiresAt?.toISOString(),
      runId: answer.runId,
    });
  }
  return problem(
    answer.status,
    answer.rule === 'replay' ||
      answer.rule === 'invalid-link' ||
      answer.rule === 'expired-link' ||
      answer.rule === 'unknown-link'
      ? answer.rule
      : 'action-refused',
    answer.detail,
    {},
    {
      rule: answer.rule,
      ...(answer.reservationId ? { reservationId: answer.reservationId } : {}),
      ...(answer.possibleAt ? { possibleAt: answer.possibleAt.toISOString() } : {}),
    },
  );
}

const TITLES: Record<number, string> = {
  400: 'Invalid input',
  401: 'Unauthorized',
  404: 'Not found',
  405: 'Method not allowed',
  409: 'Refused',
  410: 'Gone',
  503: 'Temporarily unavailable',
};

function problem(
  status: number,
  slug: string,
  detail: string,
  headers: Record<string, string> = {},
  extra: Record<string, unknown> = {},
): HttpAnswer {
  const body = {
    type: `urn:devenv-lifecycle:problem:${slug}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    ...extra,
  };
  return {
    status,
    headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}

function invalid(err: BodyError): HttpAnswer {
  return problem(400, 'invalid-input', err.message, {}, { errors: [{ field: err.field, message: err.message }] });
}

function isForm(headers: Record<string, string>): boolean {
  return (headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded');
}

function rawText(request: RawRequest): string {
  return typeof request.rawBody === 'string' ? request.rawBody : request.rawBody.toString('utf8');
}

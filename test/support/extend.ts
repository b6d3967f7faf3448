/*
 * Builders for extend's tests: its HTTP endpoint as the gateway serves it (a fresh one for each
 * test, over an emptied reservations table), the links a warning carries, a signed Slack button
 * click, and readers of what changed.
 */
import { beforeEach } from 'vitest';
import { extend } from '../../functions/extend/handler.js';
import { actionLinks } from '../../shared/actions/links.js';
import type { ActionLink } from '../../shared/actions/links.js';
import { slackButtons, slackSignature } from '../../shared/actions/slack.js';
import type { Clock } from '../../shared/clock.js';
import type { Db } from '../../shared/db/pool.js';
import type { Deps } from '../../shared/deps.js';
import type { Logger } from '../../shared/log.js';
import { createEndpoint } from '../../shared/runtime/endpoint.js';
import type { Endpoint } from '../../shared/runtime/endpoint.js';
import { useFunctionHarness } from './function-harness.js';
import type { FunctionHarness } from './function-harness.js';
import { insertReservation } from './fixtures.js';

/** Where extend's links point in these tests; a route's path is a link's URL after it. */
export const EXTEND_BASE = 'https://actions.example/function/extend';

export interface ExtendHarness extends FunctionHarness {
  /** A time `minutes` from the clock's now. */
  inMinutes(minutes: number): Date;
}

/** A function harness with action links configured (EXTEND_BASE, a test signing key), and `env` over them. */
export function useExtendHarness(env: Record<string, string> = {}): ExtendHarness {
  const h = useFunctionHarness({ ACTION_BASE_URL: EXTEND_BASE, ACTION_SIGNING_KEY: 'k'.repeat(40), ...env });
  return Object.assign(h, { inMinutes: minutesFrom(h.clock) });
}

/** The path of one of extend's URLs, for the routes. */
export const routeOf = (url: string) => url.slice(EXTEND_BASE.length);

export interface ExtendRoutes {
  /** This test's endpoint (made anew before each test). */
  readonly endpoint: Endpoint;
  post(path: string, body?: string, headers?: Record<string, string>): ReturnType<Endpoint>;
  /** A GET as a browser sends it (asking for HTML). */
  get(path: string): ReturnType<Endpoint>;
}

export interface ExtendRoutesOptions {
  /** Sets the clock here before each test. */
  clockAt?: string;
  /** The deps and logger the endpoint runs with, when not the harness's. */
  make?: () => { deps: Deps; logger: Logger };
}

/** extend's endpoint, made before each test after the reservations are emptied. */
export function useExtendRoutes(h: FunctionHarness, options: ExtendRoutesOptions = {}): ExtendRoutes {
  let endpoint: Endpoint;
  beforeEach(async () => {
    if (options.clockAt) h.clock.set(options.clockAt);
    await h.deps.pool.query('delete from reservations');
    const { deps, logger } = options.make?.() ?? { deps: h.deps, logger: h.deps.log };
    endpoint = createEndpoint(extend, () => deps, { metrics: h.deps.metrics, logger, bodyLimitBytes: 65_536 });
  });
  return {
    get endpoint() {
      return endpoint;
    },
    post: (path, body = '', headers = {}) => endpoint({ method: 'POST', path, headers, rawBody: body }),
    get: (path) => endpoint({ method: 'GET', path, headers: { accept: 'text/html' }, rawBody: '' }),
  };
}

/** A time `minutes` from the clock's now. */
export const minutesFrom = (clock: Clock) => (minutes: number) => new Date(clock.now().getTime() + minutes * 60_000);

export async function deadlineOf(db: Db, id: string): Promise<Date> {
  const { rows } = await db.query<{ expires_at: Date }>(
    'select expires_at from reservations where reservation_id = $1',
    [id],
  );
  return rows[0]!.expires_at;
}

/** A reservation running for an hour (asked for 70 minutes ago) that ends in 20 minutes unless `overrides` say otherwise. */
export function insertRunningReservation(
  h: FunctionHarness,
  id: string,
  overrides: Parameters<typeof insertReservation>[1] = {},
) {
  const inMinutes = minutesFrom(h.clock);
  return insertReservation(h.deps.pool, {
    reservation_id: id,
    launched_at: inMinutes(-60),
    created_at: inMinutes(-70),
    expires_at: inMinutes(20),
    ...overrides,
  });
}

/** A queued reservation for `gpuType`: someone waiting for that capacity. */
export async function insertQueuedReservation(h: FunctionHarness, id: string, gpuType = 'h100'): Promise<void> {
  await insertReservation(h.deps.pool, { reservation_id: id, status: 'queued', launched_at: null, expires_at: null });
  await h.deps.pool.query('update reservations set gpu_type = $2 where reservation_id = $1', [id, gpuType]);
}

/** The links a warning for this reservation and deadline carries, by action; short ones when given the database. */
export async function linksOf(
  h: FunctionHarness,
  reservationId: string,
  deadline: Date,
  db?: Db,
): Promise<Record<ActionLink['action'], ActionLink>> {
  const links = await actionLinks(h.deps.config.actions, { reservationId, deadline, now: h.clock.now() }, db);
  return Object.fromEntries(links.map((link) => [link.action, link])) as Record<ActionLink['action'], ActionLink>;
}

/** The problem body (RFC 9457) of a refusal. */
export const problemOf = (answer: { body: string }) =>
  JSON.parse(answer.body) as {
    type: string;
    status: number;
    rule?: string;
    detail: string;
    possibleAt?: string;
    errors?: { field: string }[];
  };

/** A reservation ending in 20 minutes, and the form body Slack posts when one of its buttons is clicked. */
export async function slackClickBody(
  h: FunctionHarness,
  id: string,
  action: 'extend' | 'snooze',
  payloadExtra: Record<string, unknown> = {},
): Promise<string> {
  const expiresAt = new Date(h.clock.now().getTime() + 20 * 60_000);
  await insertReservation(h.deps.pool, { reservation_id: id, expires_at: expiresAt });
  const links = await actionLinks(h.deps.config.actions, {
    reservationId: id,
    deadline: expiresAt,
    now: h.clock.now(),
  });
  const [block] = slackButtons(links) as { elements: { action_id: string; value: string }[] }[];
  const button = block!.elements.find((element) => element.action_id === `devenv-lifecycle:${action}`)!;
  const payload = {
    type: 'block_actions',
    user: { id: 'U1' },
    ...payloadExtra,
    actions: [{ action_id: button.action_id, value: button.value }],
  };
  return `payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

/** A POST to /slack with these headers (besides the form content type). */
export function slackPost(routes: ExtendRoutes, body: string, headers: Record<string, string>) {
  return routes.post('/slack', body, { 'content-type': 'application/x-www-form-urlencoded', ...headers });
}

/** A POST to /slack signed as Slack signs it (v0 over the exact body), at `timestamp` (seconds). */
export function slackSigned(routes: ExtendRoutes, secret: string, body: string, timestamp: string) {
  return slackPost(routes, body, {
    'x-slack-request-timestamp': timestamp,
    'x-slack-signature': slackSignature(secret, timestamp, body),
  });
}

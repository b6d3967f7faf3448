/*
 * Short action links (/a/<12-character id>): issued with the database at hand, stored with their
 * token, and answered exactly as the long token link — a GET only shows the confirmation page, a
 * POST acts once (409 after), an expired link is 410, an unknown id 404 and a malformed one 401,
 * all with problem bodies. Neither the id nor the token reaches a log line.
 */
import { Writable } from 'node:stream';
import { beforeEach, describe, expect, it } from 'vitest';
import { extend } from '../../functions/extend/handler.js';
import { actionLinks } from '../../shared/actions/links.js';
import { makeDeps } from '../../shared/deps.js';
import { createLogger } from '../../shared/log.js';
import {
  deadlineOf as deadlineIn,
  insertRunningReservation,
  linksOf,
  problemOf,
  routeOf,
  useExtendHarness,
  useExtendRoutes,
} from '../support/extend.js';

const h = useExtendHarness({
  EXTEND_DEFAULT_MINUTES: '120',
  ACTION_LINK_TTL_MINUTES: '60',
});
const { inMinutes } = h;
let logged = '';
// The endpoint logs into `logged`, so a test can show what reaches a log line.
const routes = useExtendRoutes(h, {
  clockAt: '2026-06-01T12:00:00Z',
  make: () => {
    const logger = createLogger({
      level: 'trace',
      hashSalt: 's',
      destination: new Writable({
        write: (chunk, _e, done) => {
          logged += String(chunk);
          done();
        },
      }),
    });
    return {
      deps: makeDeps(h.deps.config, { clock: h.clock, log: logger, pool: h.deps.pool, metrics: h.deps.metrics }),
      logger,
    };
  },
});

const post = (path: string) => routes.post(path);
const { get } = routes;
const pathOf = routeOf;
const deadlineOf = (id: string) => deadlineIn(h.deps.pool, id);
const issue = async (id: string) => linksOf(h, id, await deadlineOf(id), h.deps.pool);

beforeEach(async () => {
  logged = '';
  await insertRunningReservation(h, 'sl000001');
});

describe('issuing short links', () => {
  it('gives each link a distinct random 12-character id stored with its token, reservation, deadline, action and expiry', async () => {
    const links = await issue('sl000001');
    const ids = Object.values(links).map((link) => pathOf(link.shortUrl!));
    for (const id of ids) expect(id).toMatch(/^\/a\/[A-Za-z0-9_-]{12}$/);
    expect(new Set(ids).size).toBe(3);
    const deadline = await deadlineOf('sl000001');
    const { rows } = await h.deps.pool.query(
      'select short_id, token, reservation_id, action, deadline, expires_at from action_links order by action',
    );
    expect(
      rows.map((r) => [r.action, `/a/${r.short_id}`, r.token, r.reservation_id, r.deadline, r.expires_at]),
    ).toEqual(
      (['end-now', 'extend', 'snooze'] as const).map((action) => [
        action,
        pathOf(links[action].shortUrl!),
        pathOf(links[action].url).slice(3),
        'sl000001',
        deadline,
        inMinutes(60),
      ]),
    );
  });

  it('gives no short URL (and stores nothing) without the database', async () => {
    const links = await actionLinks(h.deps.config.actions, {
      reservationId: 'sl000001',
      deadline: await deadlineOf('sl000001'),
      now: h.clock.now(),
    });
    expect(links.map((link) => link.shortUrl)).toEqual([undefined, undefined, undefined]);
    expect((await h.deps.pool.query('select 1 from action_links')).rowCount).toBe(0);
  });
});

describe('a short link acts exactly as its token link', () => {
  it('GET shows the confirmation page and changes nothing; POST extends once; a second POST by either URL is 409', async () => {
    const { extend: link } = await issue('sl000001');
    const before = await deadlineOf('sl000001');
    const page = await get(pathOf(link.shortUrl!));
    expect(page.status).toBe(200);
    expect(page.body).toContain('<form method="post"');
    expect(await deadlineOf('sl000001')).toEqual(before);
    const acted = await post(pathOf(link.shortUrl!));
    expect(acted.status).toBe(200);
    expect(await deadlineOf('sl000001')).toEqual(new Date(before.getTime() + 120 * 60_000));
    for (const again of [link.shortUrl!, link.url]) {
      const replay = await post(pathOf(again));
      expect(replay.status).toBe(409);
      expect(problemOf(replay).type).toBe('urn:devenv-lifecycle:problem:replay');
    }
    expect(await deadlineOf('sl000001')).toEqual(new Date(before.getTime() + 120 * 60_000));
  });

  it('answers 409 on the short link once its long link was used', async () => {
    const { snooze } = await issue('sl000001');
    expect((await post(pathOf(snooze.url))).status).toBe(200);
    expect(problemOf(await post(pathOf(snooze.shortUrl!))).status).toBe(409);
  });

  it('answers 410 once the link has expired, changing nothing', async () => {
    const { 'end-now': link } = await issue('sl000001');
    h.clock.set(inMinutes(61));
    const answer = await post(pathOf(link.shortUrl!));
    expect(answer.status).toBe(410);
    expect(problemOf(answer).type).toBe('urn:devenv-lifecycle:problem:expired-link');
    const { rows } = await h.deps.pool.query('select status from reservations where reservation_id = $1', ['sl000001']);
    expect(rows[0].status).toBe('active');
  });

  it('answers an unknown id 404 and a malformed or altered one 401, on GET and POST, with problem bodies', async () => {
    const { extend: link } = await issue('sl000001');
    const id = pathOf(link.shortUrl!).slice(3);
    const altered = `${id.slice(0, 11)}${id[11] === 'A' ? 'B' : 'A'}`;
    for (const method of [get, post]) {
      const unknown = await method(`/a/${altered}`);
      expect(unknown.status).toBe(404);
      if (method === post) expect(problemOf(unknown).type).toBe('urn:devenv-lifecycle:problem:unknown-link');
      expect((await method(`/a/${id.slice(0, 11)}`)).status).toBe(401);
    }
    expect(await deadlineOf('sl000001')).toEqual(inMinutes(20));
  });

  it('keeps the id and the token out of every log line', async () => {
    const { extend: link } = await issue('sl000001');
    await get(pathOf(link.shortUrl!));
    await post(pathOf(link.shortUrl!));
    await post(pathOf(link.shortUrl!));
    expect(logged).not.toBe('');
    expect(logged).not.toContain(pathOf(link.shortUrl!).slice(3));
    expect(logged).not.toContain(pathOf(link.url).slice(3, 40));
  });
});

describe('pruning', () => {
  it("forgets short ids a day after their token expired, on extend's schedule tick", async () => {
    await issue('sl000001');
    h.clock.set(inMinutes(60 + 24 * 60 - 1));
    await h.schedule(extend);
    expect((await h.deps.pool.query('select 1 from action_links')).rowCount).toBe(3);
    h.clock.set(inMinutes(2));
    await h.schedule(extend);
    expect((await h.deps.pool.query('select 1 from action_links')).rowCount).toBe(0);
  });
});

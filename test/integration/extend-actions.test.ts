/*
 * extend end to end over its own routes (as the gateway and both platforms serve them) against a
 * real database: links act once, only on POST, never shorten or revive, refuse by policy and
 * capacity with their rule, and refuse replayed, expired and tampered tokens, changing nothing.
 */
import { describe, expect, it } from 'vitest';
import { actionLinks } from '../../shared/actions/links.js';
import type { insertReservation } from '../support/fixtures.js';
import {
  insertQueuedReservation,
  insertRunningReservation,
  problemOf,
  routeOf,
  useExtendHarness,
  useExtendRoutes,
} from '../support/extend.js';

// Events go to a Knative sink that refuses connections: each stays in the outbox, one row per event.
const h = useExtendHarness({
  EXTEND_DEFAULT_MINUTES: '120',
  EXTEND_MAX_COUNT: '2',
  RESERVATION_MAX_LIFETIME_HOURS: '8',
  EVENT_DELIVERY: 'knative',
  K_SINK: 'http://127.0.0.1:9/sink',
});
const { inMinutes } = h;
const routes = useExtendRoutes(h, { clockAt: '2026-06-01T12:00:00Z' });

type Action = 'extend' | 'snooze' | 'end-now';

async function linkFor(id: string, action: Action, deadline?: Date): Promise<string> {
  const expiresAt = deadline ?? (await row(id)).expires_at;
  const links = await actionLinks(h.deps.config.actions, {
    reservationId: id,
    deadline: expiresAt,
    now: h.clock.now(),
  });
  return routeOf(links.find((link) => link.action === action)!.url);
}

const { post, get } = routes;

async function row(id: string) {
  const { rows } = await h.deps.pool.query<{ status: string; expires_at: Date }>(
    'select status, expires_at from reservations where reservation_id = $1',
    [id],
  );
  return rows[0]!;
}

async function snapshotOf(id: string) {
  const { rows } = await h.deps.pool.query(
    `select r.status, r.expires_at, r.duration_hours, (select count(*)::int from action_tokens t where t.reservation_id = r.reservation_id) as tokens,
            (select count(*)::int from event_outbox o where o.subject = r.reservation_id) as events,
            (select count(*)::int from warning_ledger l where l.reservation_id = r.reservation_id) as ledger
     from reservations r where r.reservation_id = $1`,
    [id],
  );
  return rows[0] as Record<string, unknown>;
}

async function active(id: string, overrides: Parameters<typeof insertReservation>[1] = {}, gpuType = 'h100') {
  await insertRunningReservation(h, id, overrides);
  await h.deps.pool.query('update reservations set gpu_type = $2, duration_hours = 1 where reservation_id = $1', [
    id,
    gpuType,
  ]);
}

describe('extend: a link acts once, on POST only', () => {
  it('GET shows a confirmation page with the deadline and the limits, and changes nothing', async () => {
    await active('ex000001-get');
    const path = await linkFor('ex000001-get', 'extend');
    const before = await snapshotOf('ex000001-get');
    const page = await get(path);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect(page.body).toContain('<form method="post"');
    expect(page.body).toContain((await row('ex000001-get')).expires_at.toISOString());
    expect(page.body).toContain('at most 2');
    expect(await get(path)).toMatchObject({ status: 200 });
    expect(await snapshotOf('ex000001-get')).toEqual(before);
    // The link still works after being previewed.
    expect((await post(path)).status).toBe(200);
  });

  it('a POST extends from the current deadline, records the token, the decision and the event', async () => {
    await active('ex000002-post');
    const deadline = (await row('ex000002-post')).expires_at;
    const answer = await post(await linkFor('ex000002-post', 'extend'));
    expect(answer.status).toBe(200);
    const body = JSON.parse(answer.body) as { status: string; expiresAt: string };
    expect(body).toMatchObject({
      status: 'done',
      expiresAt: new Date(deadline.getTime() + 120 * 60_000).toISOString(),
    });
    expect((await row('ex000002-post')).expires_at).toEqual(new Date(deadline.getTime() + 120 * 60_000));
    expect(await snapshotOf('ex000002-post')).toMatchObject({ tokens: 1, events: 1, duration_hours: 3 });
    const { rows: events } = await h.deps.pool.query(
      `select type, data from event_outbox where subject = 'ex000002-post'`,
    );
    expect(events[0]).toMatchObject({
      type: 'dev.devenv.lifecycle.reservation.extended',
      data: { extensions: 1, by: 'link' },
    });
    const { rows: decisions } = await h.deps.pool.query(
      `select action, outcome, inputs from decision_log where entity_id = 'ex000002-post'`,
    );
    expect(decisions).toEqual([
      expect.objectContaining({
        action: 'extend',
        outcome: 'applied',
        inputs: expect.objectContaining({ minutes: 120, maxExtensions: 2 }),
      }),
    ]);
    expect(await h.deps.metrics.registry.metrics()).toMatch(
      /devenv_lifecycle_actions_total\{function="extend",kind="extend",outcome="applied"\} [1-9]/,
    );
  });

  it('a double click (concurrent POSTs of one link) extends once; the other is a replay', async () => {
    await active('ex000003-double');
    const deadline = (await row('ex000003-double')).expires_at;
    const path = await linkFor('ex000003-double', 'extend');
    const answers = await Promise.all([post(path), post(path), post(path)]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409, 409]);
    expect((await row('ex000003-double')).expires_at).toEqual(new Date(deadline.getTime() + 120 * 60_000));
    expect(await snapshotOf('ex000003-double')).toMatchObject({ tokens: 1, events: 1 });
  });

  it('two different links for the same deadline clicked at once extend once', async () => {
    await active('ex000004-two');
    const deadline = (await row('ex000004-two')).expires_at;
    const [a, b] = [await linkFor('ex000004-two', 'extend'), await linkFor('ex000004-two', 'extend')];
    const answers = await Promise.all([post(a), post(b)]);
    expect(answers.map((x) => x.status).sort()).toEqual([200, 409]);
    expect((await row('ex000004-two')).expires_at).toEqual(new Date(deadline.getTime() + 120 * 60_000));
  });

  it('a replayed link is 409 and changes nothing', async () => {
    await active('ex000005-replay');
    const path = await linkFor('ex000005-replay', 'snooze');
    expect((await post(path)).status).toBe(200);
    const before = await snapshotOf('ex000005-replay');
    const again = await post(path);
    expect(again.status).toBe(409);
    expect(again.headers['content-type']).toBe('application/problem+json');
    expect(problemOf(again).rule).toBe('replay');
    expect(await snapshotOf('ex000005-replay')).toEqual(before);
  });

  it('an expired link is 410 and a tampered one 401; neither changes anything', async () => {
    await active('ex000006-bad');
    const path = await linkFor('ex000006-bad', 'end-now');
    const before = await snapshotOf('ex000006-bad');
    const [header, payload, signature] = path.slice(3).split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'someone-else' })).toString('base64url');
    const tampered = await post(`/a/${header}.${forged}.${signature}`);
    expect([tampered.status, problemOf(tampered).rule]).toEqual([401, 'invalid-link']);
    expect((await post('/a/not-even-a-token')).status).toBe(401);
    expect((await get(`/a/${header}.${forged}.${signature}`)).status).toBe(401);
    h.clock.advanceMinutes(61);
    const expired = await post(path);
    expect([expired.status, problemOf(expired).rule]).toEqual([410, 'expired-link']);
    expect(await snapshotOf('ex000006-bad')).toEqual(before);
  });
});

describe('extend: the deadline only moves later, and never for an ended reservation', () => {
  it('never revives an expired reservation, even with a fresh link for its last deadline', async () => {
    await active('ex000010-expired', { status: 'expired' });
    const before = await snapshotOf('ex000010-expired');
    const answer = await post(await linkFor('ex000010-expired', 'extend'));
    expect([answer.status, problemOf(answer).rule]).toEqual([409, 'not-active']);
    expect(await snapshotOf('ex000010-expired')).toEqual(before);
  });

  it('refuses after the deadline has passed (the grace period is not a second chance)', async () => {
    await active('ex000011-past');
    const path = await linkFor('ex000011-past', 'extend');
    h.clock.advanceMinutes(21);
    const answer = await post(path);
    expect([answer.status, problemOf(answer).rule]).toEqual([409, 'deadline-passed']);
  });

  it('a link issued for an older deadline is refused as stale: it never acts on a moved deadline', async () => {
    await active('ex000012-stale');
    const stale = await linkFor('ex000012-stale', 'extend', inMinutes(5));
    const before = await snapshotOf('ex000012-stale');
    const answer = await post(stale);
    expect([answer.status, problemOf(answer).rule]).toEqual([409, 'stale-link']);
    expect(await snapshotOf('ex000012-stale')).toEqual(before);
  });

  it('a click racing expire: the reservation expired after the page was shown stays expired', async () => {
    await active('ex000013-race');
    const path = await linkFor('ex000013-race', 'extend');
    expect((await get(path)).status).toBe(200);
    await h.deps.pool.query(`update reservations set status = 'expired' where reservation_id = 'ex000013-race'`);
    const answer = await post(path);
    expect(answer.status).toBe(409);
    expect((await row('ex000013-race')).status).toBe('expired');
    expect(await snapshotOf('ex000013-race')).toMatchObject({ tokens: 0, events: 0 });
  });
});

describe('extend: policy and capacity refuse with their rule and change nothing', () => {
  it('maximum number of extensions', async () => {
    await active('ex000020-count', { expires_at: inMinutes(20) });
    expect((await post(await linkFor('ex000020-count', 'extend'))).status).toBe(200);
    expect((await post(await linkFor('ex000020-count', 'extend'))).status).toBe(200);
    const before = await snapshotOf('ex000020-count');
    const third = await post(await linkFor('ex000020-count', 'extend'));
    expect([third.status, problemOf(third).rule]).toEqual([409, 'max-extensions']);
    expect(await snapshotOf('ex000020-count')).toEqual(before);
  });

  it('maximum total lifetime, naming the latest allowed end', async () => {
    await active('ex000021-life', { launched_at: inMinutes(-400) });
    const before = await snapshotOf('ex000021-life');
    const answer = await post(await linkFor('ex000021-life', 'extend'));
    expect([answer.status, problemOf(answer).rule]).toEqual([409, 'max-lifetime']);
    expect(problemOf(answer).detail).toContain(new Date(inMinutes(-400).getTime() + 8 * 3_600_000).toISOString());
    expect(await snapshotOf('ex000021-life')).toEqual(before);
    const { rows } = await h.deps.pool.query(
      `select outcome, reason from decision_log where entity_id = 'ex000021-life'`,
    );
    expect(rows).toEqual([
      expect.objectContaining({ outcome: 'skipped', reason: expect.stringContaining('max-lifetime') }),
    ]);
  });

  it('capacity: refused while a reservation for the same GPU type waits, saying when a GPU frees up', async () => {
    await active('ex000022-cap');
    await active('ex000023-other', { expires_at: inMinutes(10) });
    await insertQueuedReservation(h, 'ex000024-queued');
    const before = await snapshotOf('ex000022-cap');
    const answer = await post(await linkFor('ex000022-cap', 'extend'));
    expect([answer.status, problemOf(answer).rule]).toEqual([409, 'capacity']);
    expect(problemOf(answer).possibleAt).toBe(inMinutes(10).toISOString());
    expect(await snapshotOf('ex000022-cap')).toEqual(before);
    // Another GPU type waiting does not hold this one back.
    await h.deps.pool.query(`update reservations set gpu_type = 'a100' where reservation_id = 'ex000024-queued'`);
    expect((await post(await linkFor('ex000022-cap', 'extend'))).status).toBe(200);
  });
});

describe('extend: snooze and end now', () => {
  it('snooze marks the remaining levels of this deadline sent; an extension re-arms them', async () => {
    await active('ex000030-snooze');
    const deadline = (await row('ex000030-snooze')).expires_at;
    expect((await post(await linkFor('ex000030-snooze', 'snooze'))).status).toBe(200);
    const { rows } = await h.deps.pool.query(
      `select level_minutes, state, expires_at from warning_ledger where reservation_id = 'ex000030-snooze' order by level_minutes`,
    );
    expect(rows).toEqual([5, 15, 30].map((level) => ({ level_minutes: level, state: 'sent', expires_at: deadline })));
    expect((await post(await linkFor('ex000030-snooze', 'extend'))).status).toBe(200);
    const { rows: due } = await h.deps.pool
      .query(`select count(*)::int as n from warning_ledger l join reservations r using (reservation_id)
      where l.reservation_id = 'ex000030-snooze' and l.expires_at = date_trunc('milliseconds', r.expires_at)`);
    expect(due[0]).toEqual({ n: 0 });
  });

  it('end now cancels the reservation with the reason and stages reservation.ended-by-user', async () => {
    await active('ex000031-end');
    expect((await post(await linkFor('ex000031-end', 'end-now'))).status).toBe(200);
    const { rows } = await h.deps.pool.query(
      `select status, failure_reason, cancelled_at from reservations where reservation_id = 'ex000031-end'`,
    );
    expect(rows[0]).toMatchObject({
      status: 'cancelled',
      failure_reason: expect.stringContaining('ended by the user'),
      cancelled_at: h.clock.now(),
    });
    const { rows: events } = await h.deps.pool.query(
      `select type, data from event_outbox where subject = 'ex000031-end'`,
    );
    expect(events[0]).toMatchObject({
      type: 'dev.devenv.lifecycle.reservation.ended-by-user',
      data: { previousStatus: 'active', by: 'link' },
    });
  });
});

describe('extend: hostile inputs', () => {
  it('answers 400 naming the field for an unknown body field, and changes nothing', async () => {
    await active('ex000040-hostile');
    const path = await linkFor('ex000040-hostile', 'extend');
    const before = await snapshotOf('ex000040-hostile');
    const json = await post(path, JSON.stringify({ minutes: 99999 }), { 'content-type': 'application/json' });
    expect([json.status, problemOf(json).errors?.[0]?.field]).toEqual([400, 'body.minutes']);
    const form = await post(path, 'confirm=yes&by=9999h', { 'content-type': 'application/x-www-form-urlencoded' });
    expect([form.status, problemOf(form).errors?.[0]?.field]).toEqual([400, 'body.by']);
    expect((await post(path, '[1,2]', { 'content-type': 'application/json' })).status).toBe(400);
    expect((await post(`/a/${'x'.repeat(5000)}`)).status).toBe(401);
    expect((await routes.endpoint({ method: 'DELETE', path, headers: {}, rawBody: '' })).status).toBe(405);
    expect(await snapshotOf('ex000040-hostile')).toEqual(before);
  });

  it('a browser form post gets a small HTML result page', async () => {
    await active('ex000041-form');
    const answer = await post(await linkFor('ex000041-form', 'snooze'), 'confirm=yes', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toMatch(/^text\/html/);
  });
});

/*
 * extend's Slack interactive endpoint: a button click acts only when Slack's v0 signature over
 * the exact body checks out and the timestamp is within five minutes; otherwise 401, nothing changes.
 */
import { describe, expect, it } from 'vitest';
import { slackSignature } from '../../shared/actions/slack.js';
import {
  deadlineOf as deadlineIn,
  slackClickBody,
  slackPost as post,
  slackSigned,
  useExtendRoutes,
} from '../support/extend.js';
import { useFunctionHarness } from '../support/function-harness.js';

const SECRET = 'slack-signing-secret-for-tests';
const h = useFunctionHarness({
  ACTION_BASE_URL: 'https://actions.example/extend',
  ACTION_SIGNING_KEY: 'k'.repeat(40),
  SLACK_SIGNING_SECRET: SECRET,
});
const routes = useExtendRoutes(h);

const clickBody = (id: string, action: 'extend' | 'snooze') => slackClickBody(h, id, action);
const nowSeconds = () => String(Math.floor(h.clock.now().getTime() / 1000));
const slackPost = (body: string, headers: Record<string, string>) => post(routes, body, headers);
const signed = (body: string, timestamp = nowSeconds(), secret = SECRET) =>
  slackSigned(routes, secret, body, timestamp);
const deadlineOf = (id: string) => deadlineIn(h.deps.pool, id);

describe('extend: Slack interactions', () => {
  it('a correctly signed click acts once', async () => {
    const body = await clickBody('sl000001-ok', 'extend');
    const before = await deadlineOf('sl000001-ok');
    const answer = await signed(body);
    expect(answer.status).toBe(200);
    expect((await deadlineOf('sl000001-ok')).getTime()).toBe(before.getTime() + 120 * 60_000);
    expect((await signed(body)).status).toBe(409);
  });

  it('refuses a bad signature, another secret, a missing signature and an altered body, changing nothing', async () => {
    const body = await clickBody('sl000002-bad', 'extend');
    const before = await deadlineOf('sl000002-bad');
    const ts = nowSeconds();
    expect(
      (await slackPost(body, { 'x-slack-request-timestamp': ts, 'x-slack-signature': 'v0=' + '0'.repeat(64) })).status,
    ).toBe(401);
    expect((await signed(body, ts, 'another-secret-entirely')).status).toBe(401);
    expect((await slackPost(body, {})).status).toBe(401);
    const altered = await slackPost(`${body}&x=1`, {
      'x-slack-request-timestamp': ts,
      'x-slack-signature': slackSignature(SECRET, ts, body),
    });
    expect(altered.status).toBe(401);
    expect(await deadlineOf('sl000002-bad')).toEqual(before);
  });

  it('refuses a timestamp more than five minutes old (a replayed capture), changing nothing', async () => {
    const body = await clickBody('sl000003-old', 'snooze');
    const old = String(Math.floor(h.clock.now().getTime() / 1000) - 301);
    const answer = await signed(body, old);
    expect(answer.status).toBe(401);
    expect(JSON.parse(answer.body)).toMatchObject({ type: 'urn:devenv-lifecycle:problem:stale-request' });
    const { rows } = await h.deps.pool.query(
      `select count(*)::int as n from warning_ledger where reservation_id = 'sl000003-old'`,
    );
    expect(rows[0]).toEqual({ n: 0 });
    expect((await signed(body, String(Math.floor(h.clock.now().getTime() / 1000) - 299))).status).toBe(200);
  });

  it('answers 400 naming the field for a signed but malformed payload', async () => {
    const body = `payload=${encodeURIComponent(JSON.stringify({ type: 'block_actions', actions: [] }))}`;
    const answer = await signed(body);
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ errors: [{ field: 'payload.actions' }] });
    expect((await signed('nothing=here')).status).toBe(400);
  });
});

/*
 * After a Slack button click, extend posts the outcome to the click's response_url, replacing the
 * message's buttons with the answer: best effort, bounded by a timeout, never holding up the 200
 * to Slack. Tested against a real HTTP receiver on the loopback interface.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { postSlackReply } from '../../functions/extend/slack-reply.js';
import { eventually } from '../support/eventually.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { slackClickBody, slackSigned, useExtendRoutes } from '../support/extend.js';

const SECRET = 'slack-signing-secret-for-replies';
const h = useFunctionHarness({
  ACTION_BASE_URL: 'https://actions.example/extend',
  ACTION_SIGNING_KEY: 'r'.repeat(40),
  SLACK_SIGNING_SECRET: SECRET,
  EXTEND_DEFAULT_MINUTES: '120',
});
const routes = useExtendRoutes(h);
let receiver: Server;
let receiverUrl = '';
const received: { path: string; body: Record<string, unknown> }[] = [];
const held: ServerResponse[] = [];
// Paths of held requests whose client gave up (closed the connection before an answer).
const abandoned: string[] = [];

beforeAll(async () => {
  receiver = createServer((request: IncomingMessage, response: ServerResponse) => {
    let body = '';
    request.on('data', (chunk) => {
      body += String(chunk);
    });
    request.on('end', () => {
      received.push({ path: request.url ?? '', body: JSON.parse(body) as Record<string, unknown> });
      if (request.url?.startsWith('/hang')) {
        held.push(response);
        response.on('close', () => {
          if (!response.writableEnded) abandoned.push(request.url ?? '');
        });
      } else response.end('ok');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const response of held) response.end();
  await new Promise((resolve) => receiver.close(resolve));
});

beforeEach(() => {
  received.length = 0;
});

const clickBody = (id: string, responseUrl: string) => slackClickBody(h, id, 'extend', { response_url: responseUrl });
const signed = (body: string) => slackSigned(routes, SECRET, body, String(Math.floor(h.clock.now().getTime() / 1000)));

describe('extend: the outcome of a Slack click replaces the message through response_url', () => {
  it('posts "done" with the new deadline, replacing the original message', async () => {
    const answer = await signed(await clickBody('sr000001', `${receiverUrl}/ok/1`));
    expect(answer.status).toBe(200);
    await eventually(async () => received.length === 1, 'the reply at the receiver');
    const { expires_at } = (await h.deps.pool.query('select expires_at from reservations')).rows[0] as {
      expires_at: Date;
    };
    expect(received[0]!.path).toBe('/ok/1');
    expect(received[0]!.body).toMatchObject({
      replace_original: true,
      text: expect.stringContaining(`Done: extended by 120 minutes; the new deadline is ${expires_at.toISOString()}`),
    });
    expect(JSON.stringify(received[0]!.body.blocks)).not.toContain('"button"');
  });

  it('posts the refusal and its reason for a second click', async () => {
    const body = await clickBody('sr000002', `${receiverUrl}/ok/2`);
    expect((await signed(body)).status).toBe(200);
    expect((await signed(body)).status).toBe(409);
    await eventually(async () => received.length === 2, 'both replies at the receiver');
    expect(received.map((r) => String(r.body.text).split(':')[0])).toEqual(
      expect.arrayContaining(['Done', 'Not done (replay)']),
    );
  });

  it('answers Slack at once while the receiver has not answered', async () => {
    const body = await clickBody('sr000003', `${receiverUrl}/hang/3`);
    const answer = await signed(body);
    // Had the answer waited for the reply, it would have come only after the reply gave up on the
    // receiver, which closes the held request: it is still open (no clock involved).
    expect(abandoned).toEqual([]);
    expect(answer.status).toBe(200);
    await eventually(async () => received.length === 1, 'the reply at the receiver');
    expect(held.every((response) => !response.writableEnded)).toBe(true);
  });

  it('gives up on a receiver that does not answer within the timeout', async () => {
    // The receiver never answers: only the timeout can end the post, and it closes the request.
    await expect(
      postSlackReply(`${receiverUrl}/hang/4`, { kind: 'done', reservationId: 'x', action: 'extend', detail: 'd' }, 300),
    ).rejects.toThrow(/timeout|aborted/i);
    await eventually(async () => abandoned.includes('/hang/4'), 'the held request closed by the client');
  });

  it('refuses a response_url that is not http(s), naming the field, and changes nothing', async () => {
    const answer = await signed(await clickBody('sr000005', 'file:///etc/passwd'));
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ errors: [{ field: 'payload.response_url' }] });
    expect(received).toHaveLength(0);
  });
});

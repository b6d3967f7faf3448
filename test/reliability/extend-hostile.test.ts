/*
 * Hostile input against extend's own routes through the local gateway: garbage and forged tokens
 * on GET and POST /a/<token>, unissued short ids /a/<12 characters>, odd bodies, and unsigned or badly signed Slack requests. Every
 * answer is a refusal (400, 401, 404 or 405) and not one row of the database changes.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actionLinks } from '../../shared/actions/links.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertReservation } from '../support/fixtures.js';
import { serveGateway } from './gateway.js';
import type { ServedGateway } from './gateway.js';
import { hostileString } from './hostile-inputs.js';
import { settings, timeLimitMs } from './settings.js';
import { silentLog } from './world.js';

const KEY = 'r'.repeat(40);
const h = useFunctionHarness({
  ACTION_BASE_URL: 'https://actions.example/function/extend',
  ACTION_SIGNING_KEY: KEY,
  SLACK_SIGNING_SECRET: 'slack-secret-for-hostile',
});
let gateway: ServedGateway;
let genuine = '';

beforeAll(async () => {
  gateway = await serveGateway(h.deps, silentLog, 4096);
  const deadline = new Date(h.clock.now().getTime() + 20 * 60_000);
  await insertReservation(h.deps.pool, { reservation_id: 'hx000001', expires_at: deadline });
  const [link] = await actionLinks(
    h.deps.config.actions,
    { reservationId: 'hx000001', deadline, now: h.clock.now() },
    h.deps.pool,
  );
  genuine = link!.url.slice(link!.url.indexOf('/a/') + 3);
});
afterAll(() => gateway?.close());

async function snapshot(): Promise<string> {
  const tables = [
    'reservations',
    'action_tokens',
    'action_links',
    'reservation_extensions',
    'warning_ledger',
    'event_outbox',
    'decision_log',
  ];
  const rows = await Promise.all(tables.map(async (t) => (await h.deps.pool.query(`select * from ${t}`)).rows));
  return JSON.stringify(rows);
}

// One character of the signed text (header or payload) changed: the signature no longer matches.
// (A change in the signature's last character may only touch its unused bits, so it is left alone.)
const forged = fc.tuple(fc.nat({ max: 10_000 }), fc.constantFrom('a', 'B', '-', '_', '.', '%2e')).map(([n, c]) => {
  const at = n % genuine.lastIndexOf('.');
  return genuine.slice(0, at) + (genuine[at] === c ? 'Z' : c) + genuine.slice(at + 1);
});
// Short-link ids of the right shape that were never issued (one genuine id is issued below, unused here).
const shortId = fc.string({
  unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'),
  minLength: 12,
  maxLength: 12,
});
const tokenPart = fc.oneof(
  hostileString.map(encodeURIComponent),
  forged,
  shortId,
  fc.string({ unit: 'grapheme-ascii', maxLength: 600 }).map(encodeURIComponent),
);
const oddBody = fc.oneof(
  fc.constant(''),
  hostileString,
  fc.json(),
  fc.constant('confirm=yes&minutes=99999'),
  fc.constant('{"by":"9999h"}'),
);

describe(`extend's own routes under hostile input (seed ${settings.seed})`, () => {
  it(
    'refuses every forged or garbage link and unsigned Slack request, changing nothing',
    async () => {
      const before = await snapshot();
      await fc.assert(
        fc.asyncProperty(
          tokenPart,
          oddBody,
          fc.constantFrom('GET', 'POST', 'PUT'),
          fc.boolean(),
          async (token, body, method, slack) => {
            const path = slack ? '/slack' : `/a/${token}`;
            const headers: Record<string, string> = slack
              ? {
                  'content-type': 'application/x-www-form-urlencoded',
                  'x-slack-request-timestamp': String(Math.floor(h.clock.now().getTime() / 1000)),
                  'x-slack-signature': `v0=${token.slice(0, 64)}`,
                }
              : { 'content-type': body.startsWith('{') ? 'application/json' : 'application/x-www-form-urlencoded' };
            const answer = await fetch(`${gateway.url}/function/extend${path}`, {
              method,
              headers,
              ...(method === 'GET' ? {} : { body: `payload=${encodeURIComponent(body)}` }),
            });
            expect([400, 401, 404, 405], `${method} ${path.slice(0, 80)}`).toContain(answer.status);
          },
        ),
        { numRuns: Math.max(50, settings.hostileRuns), seed: settings.seed },
      );
      expect(await snapshot()).toEqual(before);
    },
    timeLimitMs(60_000),
  );
});

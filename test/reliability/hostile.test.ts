/*
 * Hostile input against the HTTP entry of every function, through the local gateway over
 * loopback: property-based (fast-check) malformed and adversarial requests. Every answer is 400
 * or 413 with a JSON problem body, the gateway keeps serving, and not one row of the database
 * changes (all tables compared before and after).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allFunctions } from '../../functions/index.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { everyRow } from '../support/preview.js';
import { planFleet, seedFleet } from './fleet.js';
import { serveGateway } from './gateway.js';
import type { ServedGateway } from './gateway.js';
import { hostileRequests } from './hostile-inputs.js';
import type { HostileRequest } from './hostile-inputs.js';
import { printSummary, settings, timeLimitMs } from './settings.js';
import { silentLog } from './world.js';

const LIMIT_BYTES = 4096;
const h = useFunctionHarness();
let gateway: ServedGateway;
let baseUrl = '';
const tried = new Map<string, number>();

beforeAll(async () => {
  await seedFleet(h.deps.pool, h.sim, planFleet(1, 10), h.clock.now());
  gateway = await serveGateway(h.deps, silentLog, LIMIT_BYTES);
  baseUrl = gateway.url;
});
afterAll(async () => {
  printSummary('hostile input', {
    seed: settings.seed,
    'inputs tried by family': Object.fromEntries(tried),
    'inputs tried': [...tried.values()].reduce((a, b) => a + b, 0),
  });
  await gateway?.close();
});

async function send(
  fn: string,
  request: HostileRequest,
): Promise<{ status: number; contentType: string; body: string }> {
  const answer = await fetch(`${baseUrl}/function/${fn}`, {
    method: 'POST',
    headers: request.headers,
    body: request.body,
  });
  return { status: answer.status, contentType: answer.headers.get('content-type') ?? '', body: await answer.text() };
}

describe(`hostile input (seed ${settings.seed})`, () => {
  it.each(allFunctions.map((fn) => fn.name))(
    '%s answers every malformed or adversarial request with 400 or 413 and changes nothing',
    async (fn) => {
      const before = await everyRow(h.deps.pool);
      await fc.assert(
        fc.asyncProperty(hostileRequests(fn, LIMIT_BYTES), async (request) => {
          tried.set(request.family, (tried.get(request.family) ?? 0) + 1);
          const answer = await send(fn, request);
          expect(answer.status, `${request.family}: ${answer.body}`).toBe(request.expected);
          expect(answer.contentType).toContain('application/problem+json');
          expect(JSON.parse(answer.body)).toMatchObject({ status: request.expected });
        }),
        { numRuns: settings.hostileRuns, seed: settings.seed },
      );
      expect(await everyRow(h.deps.pool)).toEqual(before);
      expect((await fetch(`${baseUrl}/healthz`)).status).toBe(200);
      const dryRun = await fetch(`${baseUrl}/function/${fn}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"dryRun":true}',
      });
      expect(dryRun.status).toBe(200);
    },
    timeLimitMs(60_000),
  );
});

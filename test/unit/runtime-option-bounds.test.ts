/*
 * Every numeric option of every function is bounded, so a date computed from it stays valid:
 * `olderThanMinutes: 1e10` used to pass the schema, reach PostgreSQL as a cutoff before 4713 BC
 * and answer 500 as a failed run. Out-of-range input is a 400 naming the field, and the function
 * is never called.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { allFunctions } from '../../functions/index.js';
import { watchdogOptionsSchema } from '../../functions/ending-watchdog/options.js';
import { createEndpoint } from '../../shared/runtime/endpoint.js';
import { baseOptionsSchema, MAX_ITEMS_LIMIT } from '../../shared/runtime/invocation.js';
import { createMetrics } from '../../shared/runtime/metrics.js';

const silent = pino({ level: 'silent' }, new Writable({ write: (_chunk, _encoding, done) => done() }));

/** The real function's endpoint; its context factory fails the test if the function is ever reached. */
function endpointOf(name: string) {
  const fn = allFunctions.find((candidate) => candidate.name === name)!;
  return createEndpoint(
    fn,
    () => {
      throw new Error(`${name} was called with out-of-range options`);
    },
    { metrics: createMetrics(), logger: silent, bodyLimitBytes: 65536 },
  );
}

async function post(name: string, options: Record<string, unknown>) {
  const answer = await endpointOf(name)({
    method: 'POST',
    path: '/',
    headers: { 'content-type': 'application/json' },
    rawBody: JSON.stringify(options),
  });
  return { status: answer.status, body: JSON.parse(answer.body) as { errors?: { field: string }[] } };
}

describe('numeric option bounds', () => {
  it.each([
    ['ending-watchdog', { olderThanMinutes: 1e10 }, 'olderThanMinutes'],
    ['ending-watchdog', { olderThanMinutes: 525_601 }, 'olderThanMinutes'],
    ['ending-watchdog', { maxLabs: 1e9 }, 'maxLabs'],
    ['ending-watchdog', { maxItems: MAX_ITEMS_LIMIT + 1 }, 'maxItems'],
    ['expire', { maxItems: 1e15 }, 'maxItems'],
    ['snapshot-sync', { maxItems: 1.5 }, 'maxItems'],
  ] as const)('%s answers 400 naming the field for %j, without running', async (name, options, field) => {
    const answer = await post(name, options);
    expect(answer.status).toBe(400);
    expect(answer.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
  });

  it('accepts the largest values and nothing above them', () => {
    expect(
      watchdogOptionsSchema.safeParse({ olderThanMinutes: 525_600, maxLabs: 1000, maxItems: MAX_ITEMS_LIMIT }).success,
    ).toBe(true);
    expect(watchdogOptionsSchema.safeParse({ maxLabs: 1001 }).success).toBe(false);
    expect(baseOptionsSchema.safeParse({ maxItems: MAX_ITEMS_LIMIT }).success).toBe(true);
  });
});

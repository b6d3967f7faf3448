/*
 * A run's delivery drains the outbox (issue 18): after its own events, it sends older ones in leased
 * pages until its deadline, so a backlog left by an outage is delivered in a bounded number of runs
 * instead of 100 per run, and the run's own events still go first. A run that reaches its deadline
 * stops leasing, gives back what it leased and did not send (no lease held, the attempt not
 * counted), and the next run goes on from there.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { enqueueEvents } from '../../shared/db/queries/outbox.js';
import { withTransaction } from '../../shared/db/transaction.js';
import { buildEvent, sourceFor } from '../../shared/events/build.js';
import { EventTypes } from '../../shared/events/types.js';
import type { BaseOptions, Invocation } from '../../shared/runtime/invocation.js';
import { REDELIVERY_PAGE_SIZE, runScoped } from '../../shared/runtime/run-scope.js';
import type { RunServices } from '../../shared/runtime/run-scope.js';
import { useTestDatabase } from '../support/database.js';
import { sinkRunServices } from '../support/run-services.js';

const db = useTestDatabase();
const clock = new ManualClock('2026-06-01T12:00:00Z');
const BUDGET_SECONDS = 50;
/** ce-id of every event the sink accepted, in the order the requests arrived. */
const received: string[] = [];
/** Seconds the clock moves per request the sink answers (0: a clock that stands still). */
let secondsPerSend = 0;
const sink = http.createServer((req, res) => {
  received.push(String(req.headers['ce-id']));
  clock.advanceSeconds(secondsPerSend);
  req.resume().on('end', () => res.writeHead(202).end());
});
let services: RunServices;

beforeAll(async () => {
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/`;
  services = sinkRunServices(db.pool, clock, sinkUrl, { budgetSeconds: BUDGET_SECONDS, deliveryTimeoutMs: 2000 });
});
afterAll(() => new Promise<void>((resolve) => sink.close(() => resolve())));
beforeEach(async () => {
  await db.pool.query('delete from event_outbox');
  received.length = 0;
  secondsPerSend = 0;
});

const schedule: Invocation<BaseOptions> = {
  kind: 'schedule',
  source: 'cron-connector',
  callId: 'c-1',
  options: { dryRun: false },
};

/** Events an earlier run staged and could not deliver (the sink was down): due now, created an hour ago. */
async function backlog(count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, () => randomUUID());
  const createdAt = new Date(clock.now().getTime() - 3_600_000);
  await enqueueEvents(
    db.pool,
    ids.map((eventId, i) => ({
      eventId,
      destination: 'sink',
      type: EventTypes.reservationExpired,
      source: sourceFor('expire'),
      subject: `r-old-${i}`,
      data: { reservationId: `r-old-${i}` },
    })),
    createdAt,
  );
  return ids;
}

function ownEvent() {
  return buildEvent(
    EventTypes.reservationExpired,
    {
      reservationId: 'r-own',
      previousStatus: 'active',
      reason: 'deadline',
      podName: null,
      namespace: null,
      expiresAt: null,
      endedAt: clock.now().toISOString(),
    },
    { source: sourceFor('expire'), subject: 'r-own', time: clock.now() },
  );
}

/** A scheduled run whose work stages one event of its own. */
async function runStaging(own = ownEvent()) {
  const result = await runScoped(services, 'expire', schedule, async (scope) => {
    await withTransaction(db.pool, (client) => scope.stage(client, [own]));
    return { summary: {}, failures: [] };
  });
  return { result, own };
}

async function undelivered() {
  const { rows } = await db.pool.query<{ lease_owner: string | null; attempts: number }>(
    'select lease_owner, attempts from event_outbox where delivered_at is null',
  );
  return rows;
}

describe('a run drains the outbox after its own events', () => {
  it('delivers a backlog of several pages in one run with time left, its own event first', async () => {
    const older = await backlog(REDELIVERY_PAGE_SIZE * 2 + 50);
    const { result, own } = await runStaging();
    expect(result).toMatchObject({ outcome: 'succeeded', summary: { events_delivered: older.length + 1 } });
    expect(received[0]).toBe(own.id);
    expect(new Set(received)).toEqual(new Set([own.id, ...older]));
    expect(received).toHaveLength(older.length + 1);
    expect(await undelivered()).toEqual([]);
  });

  it('a run that reaches its deadline stops, holds no lease on what it did not send, and the next run goes on', async () => {
    const older = await backlog(REDELIVERY_PAGE_SIZE * 3);
    // Each send takes a second of the run's 50 s budget.
    secondsPerSend = 1;
    const first = await runStaging();
    expect(received[0]).toBe(first.own.id);
    const sentFirst = received.length;
    expect(sentFirst).toBeGreaterThanOrEqual(BUDGET_SECONDS);
    expect(sentFirst).toBeLessThan(REDELIVERY_PAGE_SIZE);
    expect(first.result.summary).toMatchObject({ events_delivered: sentFirst });
    const left = await undelivered();
    expect(left).toHaveLength(older.length + 1 - sentFirst);
    // Given back, not held until a lease expires, and the attempt that never happened is not counted.
    expect(left.every((row) => row.lease_owner === null && row.attempts === 0)).toBe(true);

    const second = await runStaging();
    // The second run's own event goes before the backlog the first left.
    expect(received[sentFirst]).toBe(second.own.id);
    expect(second.result.summary.events_delivered).toBeGreaterThanOrEqual(BUDGET_SECONDS);
    // With time to spare, the rest goes in one more run: every event delivered, each once.
    secondsPerSend = 0;
    const third = await runStaging();
    expect(await undelivered()).toEqual([]);
    expect(received.sort()).toEqual([...older, first.own.id, second.own.id, third.own.id].sort());
  });
});

/*
 * A run's events are born leased to it (issue 18): the outbox rows are inserted already leased, in
 * the transaction of the state change, so after commit the run sends them without leasing them
 * again. What must still hold: a transaction that rolls back leaves no row and nothing is sent; no
 * other runner takes the rows while the run holds them; a run killed before sending leaves them to
 * a later run once its lease has expired, and that run delivers them.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { withTransaction } from '../../shared/db/transaction.js';
import type { BaseOptions, Invocation } from '../../shared/runtime/invocation.js';
import { runScoped } from '../../shared/runtime/run-scope.js';
import type { RunScope, RunServices } from '../../shared/runtime/run-scope.js';
import { useTestDatabase } from '../support/database.js';
import { reservationExpiredEvent } from '../support/events.js';
import { sinkRunServices } from '../support/run-services.js';

const db = useTestDatabase();
const clock = new ManualClock('2026-06-01T12:00:00Z');
const BUDGET_SECONDS = 50;
const DELIVERY_TIMEOUT_MS = 2000;
/** ce-id of every event the sink accepted, and what it carried. */
const received: string[] = [];
const bodies: { type: string; subject: string; traceparent: string; data: unknown }[] = [];
const sink = http.createServer((req, res) => {
  received.push(String(req.headers['ce-id']));
  let body = '';
  req.on('data', (chunk: Buffer) => (body += chunk.toString()));
  req.on('end', () => {
    const header = (name: string) => String(req.headers[name]);
    bodies.push({
      type: header('ce-type'),
      subject: header('ce-subject'),
      traceparent: header('traceparent'),
      data: JSON.parse(body),
    });
    res.writeHead(202).end();
  });
});
let services: RunServices;

beforeAll(async () => {
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/`;
  services = sinkRunServices(db.pool, clock, sinkUrl, {
    budgetSeconds: BUDGET_SECONDS,
    deliveryTimeoutMs: DELIVERY_TIMEOUT_MS,
  });
});
afterAll(() => new Promise<void>((resolve) => sink.close(() => resolve())));
beforeEach(async () => {
  await db.pool.query('delete from event_outbox; delete from function_runs');
  received.length = 0;
  bodies.length = 0;
});

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const manual: Invocation<BaseOptions> = { kind: 'manual', callId: 'c-1', options: { dryRun: false } };

const expired = (reservationId: string) => reservationExpiredEvent(reservationId, clock.now());

const stage = (scope: RunScope, events: ReturnType<typeof expired>[]) =>
  withTransaction(db.pool, (client) => scope.stage(client, events));

async function outbox() {
  const { rows } = await db.pool.query<{
    event_id: string;
    lease_owner: string | null;
    attempts: number;
    delivered: boolean;
  }>('select event_id, lease_owner, attempts, delivered_at is not null as delivered from event_outbox order by id');
  return rows;
}

/** A run that does nothing of its own: it only delivers what is due. */
const quietRun = () => runScoped(services, 'expire', manual, async () => ({ summary: {}, failures: [] }));

describe('events leased to their run when inserted', () => {
  it('a rolled-back transaction leaves no row and its events are never sent; the committed ones are', async () => {
    const kept = expired('r-kept');
    const lost = expired('r-lost');
    const result = await runScoped(services, 'expire', manual, async (scope) => {
      await stage(scope, [kept]);
      await withTransaction(db.pool, async (client) => {
        await scope.stage(client, [lost]);
        throw new Error('the batch failed after staging its events');
      }).catch(() => undefined);
      return { summary: {}, failures: [] };
    });
    expect(result.summary).toMatchObject({ events_delivered: 1 });
    expect(received).toEqual([kept.id]);
    expect((await outbox()).map((row) => row.event_id)).toEqual([kept.id]);
  });

  it('rows held by a run are born leased to it, one attempt counted, and no other runner takes them meanwhile', async () => {
    const event = expired('r-held');
    let runId = '';
    await runScoped(services, 'expire', { ...manual, traceparent: TRACEPARENT }, async (scope) => {
      runId = scope.runId;
      await stage(scope, [event]);
      expect(await outbox()).toEqual([{ event_id: event.id, lease_owner: runId, attempts: 1, delivered: false }]);
      // Another run delivering what is due, while this one still works: the held row is not due.
      expect((await quietRun()).summary).toMatchObject({ events_delivered: 0 });
      return { summary: {}, failures: [] };
    });
    expect(received).toEqual([event.id]);
    // Sent as staged, the trace of the invocation included.
    expect(bodies).toEqual([{ type: event.type, subject: 'r-held', traceparent: TRACEPARENT, data: event.data }]);
    expect(await outbox()).toEqual([{ event_id: event.id, lease_owner: null, attempts: 1, delivered: true }]);
  });

  it('a run that dies after commit and before sending leaves its rows leased; a later run delivers them once the lease expires', async () => {
    const event = expired('r-orphan');
    const died = runScoped(services, 'expire', manual, async (scope) => {
      await stage(scope, [event]);
      throw new Error('the process died before delivering');
    });
    await expect(died).rejects.toThrow('died');
    expect(received).toEqual([]);
    // Within the run's budget (and the margin after it) the row is still the dead run's.
    clock.advanceSeconds(BUDGET_SECONDS);
    expect((await quietRun()).summary).toMatchObject({ events_delivered: 0 });
    expect(received).toEqual([]);
    // Past the deadline and twice the delivery timeout, the lease has expired: the next run takes it over.
    clock.advanceSeconds((2 * DELIVERY_TIMEOUT_MS) / 1000 + 1);
    expect((await quietRun()).summary).toMatchObject({ events_delivered: 1 });
    expect(received).toEqual([event.id]);
    expect(await outbox()).toEqual([{ event_id: event.id, lease_owner: null, attempts: 2, delivered: true }]);
  });
});

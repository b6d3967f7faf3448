/*
 * The runtime end to end over HTTP: a local gateway serving two small test functions, one that
 * ends a "reservation" and publishes reservation.expired through the outbox, and one that consumes
 * it. Shows chaining through the routing table, idempotent consumption, and redelivery of an event
 * whose first delivery was refused.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import type { Deps } from '../../shared/deps.js';
import { appendDecisions } from '../../shared/db/queries/decisions.js';
import { outboxBacklog } from '../../shared/db/queries/outbox.js';
import { withTransaction } from '../../shared/db/transaction.js';
import { toBinaryHttp } from '../../shared/events/build.js';
import { createEndpoint } from '../../shared/runtime/endpoint.js';
import { baseOptionsSchema, defineHandler } from '../../shared/runtime/invocation.js';
import { createMetrics } from '../../shared/runtime/metrics.js';
import { runScoped } from '../../shared/runtime/run-scope.js';
import type { RunServices } from '../../shared/runtime/run-scope.js';
import { createGateway } from '../../local/gateway.js';
import { useTestDatabase } from '../support/database.js';
import { eventually } from '../support/eventually.js';
import { reservationExpiredEvent } from '../support/events.js';
import { silentLog } from '../support/world.js';

const db = useTestDatabase();
const clock = new ManualClock('2026-06-01T12:00:00Z');
const log = silentLog;
const metrics = createMetrics();
let refuseAsync = false;
let baseUrl = '';
let services: RunServices;
let server: http.Server;
let drain: () => Promise<void>;

type Ctx = Pick<Deps, 'run'>;

// Test-only functions: they use the real runtime (runs table, outbox, inbox) around a tiny effect.
const producer = defineHandler<{ dryRun: boolean; maxItems?: number }, Ctx>({
  name: 'expire',
  optionsSchema: baseOptionsSchema,
  handle: (invocation, ctx) =>
    runScoped(ctx.run, 'expire', invocation, async (scope) => {
      const event = reservationExpiredEvent(`r-${scope.runId}`, scope.now());
      await withTransaction(db.pool, (client) => scope.stage(client, [event]));
      return { summary: { expired: 1 }, failures: [] };
    }),
});

const consumer = defineHandler<{ dryRun: boolean; maxItems?: number }, Ctx>({
  name: 'cleanup-pod',
  optionsSchema: baseOptionsSchema,
  handle: (invocation, ctx) =>
    runScoped(ctx.run, 'cleanup-pod', invocation, async (scope) => {
      const subject = invocation.kind === 'event' ? (invocation.event.subject ?? '') : '';
      const consumed = await withTransaction(db.pool, async (client) => {
        if (!(await scope.claimEvent(client))) return 0;
        await appendDecisions(
          client,
          [
            {
              fn: 'cleanup-pod',
              entityKind: 'reservation',
              entityId: subject,
              action: 'consume',
              reason: 'test',
              outcome: 'applied',
            },
          ],
          scope.now(),
        );
        return 1;
      });
      return { summary: { consumed }, failures: [] };
    }),
});

async function consumedCount(): Promise<number> {
  const { rows } = await db.pool.query<{ n: string }>(
    `select count(*) as n from decision_log where action = 'consume'`,
  );
  return Number(rows[0]!.n);
}

beforeAll(async () => {
  server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  services = {
    pool: db.pool,
    clock,
    log,
    metrics,
    publish: { mode: 'openfaas', gatewayUrl: baseUrl },
    paused: false,
    defaultMaxItems: 10,
    budgetSeconds: 30,
    deliveryTimeoutMs: 2000,
    concurrency: 2,
  };
  const runtime = { metrics, logger: log, bodyLimitBytes: 65536 };
  const gateway = createGateway({
    functions: [
      { name: 'expire', endpoint: createEndpoint(producer, () => ({ run: services }), runtime), schedule: '* * * * *' },
      { name: 'cleanup-pod', endpoint: createEndpoint(consumer, () => ({ run: services }), runtime) },
    ],
    bodyLimitBytes: 65536,
    log,
    metrics,
  });
  drain = gateway.drain;
  server.on('request', (req, res) => {
    if (refuseAsync && req.url?.startsWith('/async-function/')) return void res.writeHead(500).end();
    gateway.listener(req, res);
  });
});
afterAll(async () => {
  await drain();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('local gateway and event chaining', () => {
  it('runs a function on POST /function/<fn> and chains its event to the consumer', async () => {
    const answer = await fetch(`${baseUrl}/function/expire`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({ outcome: 'succeeded', summary: { expired: 1, events_delivered: 1 } });
    await eventually(async () => (await consumedCount()) === 1);
    expect((await outboxBacklog(db.pool)).undelivered).toBe(0);
  });

  it('accepts a faas-cli style text/plain invocation and rejects unknown options with 400 naming the field', async () => {
    const ok = await fetch(`${baseUrl}/function/expire`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: '{"dryRun":true}',
    });
    expect(ok.status).toBe(200);
    const bad = await fetch(`${baseUrl}/function/expire`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"dryRun":true,"maxItem":5}',
    });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toContain('application/problem+json');
    expect(JSON.stringify(await bad.json())).toContain('maxItem');
  });

  it('changes nothing when the same event is delivered twice', async () => {
    const event = reservationExpiredEvent('r-dup', clock.now());
    const before = await consumedCount();
    for (let delivery = 0; delivery < 2; delivery++) {
      const message = toBinaryHttp(event);
      const answer = await fetch(`${baseUrl}/function/cleanup-pod`, {
        method: 'POST',
        headers: message.headers,
        body: message.body,
      });
      expect(answer.status).toBe(202);
    }
    expect(await consumedCount()).toBe(before + 1);
  });

  it('keeps a refused event in the outbox and a later run delivers it exactly once', async () => {
    const before = await consumedCount();
    refuseAsync = true;
    const first = await fetch(`${baseUrl}/function/expire`, { method: 'POST', body: '' });
    expect(await first.json()).toMatchObject({ summary: { events_delivered: 0, events_deferred: 1 } });
    expect((await outboxBacklog(db.pool)).undelivered).toBe(1);
    refuseAsync = false;
    clock.advanceSeconds(10);
    const second = await fetch(`${baseUrl}/function/expire`, { method: 'POST', body: '' });
    expect(await second.json()).toMatchObject({ summary: { events_delivered: 2 } }); // the old one and its own
    await eventually(async () => (await consumedCount()) === before + 2);
    await drain();
    expect(await consumedCount()).toBe(before + 2);
    expect((await outboxBacklog(db.pool)).undelivered).toBe(0);
  });

  it('lists functions with their schedules, and answers health and metrics', async () => {
    const list = (await (await fetch(`${baseUrl}/system/functions`)).json()) as {
      name: string;
      annotations: Record<string, string>;
    }[];
    expect(list.map((fn) => fn.name)).toEqual(['expire', 'cleanup-pod']);
    expect(list[0]!.annotations).toEqual({ topic: 'cron-function', schedule: '* * * * *' });
    expect((await fetch(`${baseUrl}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${baseUrl}/metrics`)).text()).toContain('devenv_lifecycle_runs_total');
    expect((await fetch(`${baseUrl}/function/nope`, { method: 'POST' })).status).toBe(404);
  });
});

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildEvent, sourceFor } from '../../shared/events/build.js';
import { flushOutbox, stageEvents } from '../../shared/events/outbox.js';
import type { PublishMode } from '../../shared/events/outbox.js';
import { EventTypes } from '../../shared/events/types.js';
import { outboxBacklog } from '../../shared/db/queries/outbox.js';
import { withTransaction } from '../../shared/db/transaction.js';
import { useTestDatabase } from '../support/database.js';

const db = useTestDatabase();
const received: { path: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
let answerStatus = 202;
let baseUrl = '';
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    received.push({ path: req.url ?? '', headers: req.headers, body });
    res.writeHead(answerStatus).end();
  });
});

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(async () => {
  received.length = 0;
  answerStatus = 202;
  await db.pool.query('delete from event_outbox');
});

let clock = new Date('2026-06-01T12:00:00Z');
const now = () => clock;

function expiredEvent(reservationId = 'r-1') {
  return buildEvent(EventTypes.reservationExpired, {
    reservationId,
    previousStatus: 'active',
    reason: 'deadline passed',
    podName: 'gpu-dev-r1',
    namespace: 'gpu-dev',
    expiresAt: '2026-06-01T11:00:00Z',
    endedAt: clock.toISOString(),
  }, { source: sourceFor('expire'), subject: reservationId, time: clock });
}

const flush = (publish: PublishMode, eventIds?: string[]) =>
  flushOutbox({ db: db.pool, publish, now, owner: 'test', limit: 50, timeoutMs: 2000, concurrency: 4, eventIds });

describe('outbox delivery', () => {
  it('delivers a staged event to the OpenFaaS consumer from the routing table, in binary mode', async () => {
    const event = expiredEvent();
    await withTransaction(db.pool, (client) => stageEvents(client, [event], { mode: 'openfaas', gatewayUrl: baseUrl }, clock));
    const report = await flush({ mode: 'openfaas', gatewayUrl: baseUrl });
    expect(report).toEqual({ delivered: 1, failed: 0, errors: [] });
    expect(received).toHaveLength(1);
    expect(received[0]!.path).toBe('/async-function/cleanup-pod');
    expect(received[0]!.headers).toMatchObject({ 'ce-id': event.id, 'ce-type': EventTypes.reservationExpired, 'ce-source': '/devenv-lifecycle/expire', 'ce-subject': 'r-1' });
    expect(JSON.parse(received[0]!.body)).toMatchObject({ reservationId: 'r-1' });
  });

  it('sends every event to the Knative sink', async () => {
    await stageEvents(db.pool, [expiredEvent(), expiredEvent('r-2')], { mode: 'knative', sinkUrl: `${baseUrl}/broker` }, clock);
    expect((await flush({ mode: 'knative', sinkUrl: `${baseUrl}/broker` })).delivered).toBe(2);
    expect(received.map((r) => r.path)).toEqual(['/broker', '/broker']);
  });

  it('keeps a refused event in the outbox and delivers it exactly once later', async () => {
    const publish: PublishMode = { mode: 'openfaas', gatewayUrl: baseUrl };
    await stageEvents(db.pool, [expiredEvent()], publish, clock);
    answerStatus = 500;
    const first = await flush(publish);
    expect(first.failed).toBe(1);
    expect(first.errors[0]).toMatch(/HTTP 500/);
    expect((await outboxBacklog(db.pool)).undelivered).toBe(1);
    answerStatus = 202;
    expect((await flush(publish)).delivered).toBe(0); // still backing off
    clock = new Date(clock.getTime() + 6000);
    expect((await flush(publish)).delivered).toBe(1);
    expect((await flush(publish)).delivered).toBe(0);
    expect(received.filter((r) => r.headers['ce-type'] === EventTypes.reservationExpired)).toHaveLength(2); // one refused, one accepted
    expect((await outboxBacklog(db.pool)).undelivered).toBe(0);
  });

  it('stages nothing for an event nobody consumes on OpenFaaS, and nothing when delivery is off', async () => {
    const warned = buildEvent(EventTypes.reservationWarned, {
      reservationId: 'r-1', podName: 'p', namespace: 'n', expiresAt: '2026-06-01T12:30:00Z', levelMinutes: 30, minutesLeft: 29, warnedAt: clock.toISOString(),
    }, { source: sourceFor('warn'), subject: 'r-1', time: clock });
    await stageEvents(db.pool, [warned], { mode: 'openfaas', gatewayUrl: baseUrl }, clock);
    await stageEvents(db.pool, [expiredEvent()], { mode: 'none' }, clock);
    expect((await outboxBacklog(db.pool)).undelivered).toBe(0);
  });

  it('flushes only the events it was asked to', async () => {
    const publish: PublishMode = { mode: 'knative', sinkUrl: baseUrl };
    const mine = expiredEvent();
    await stageEvents(db.pool, [mine, expiredEvent('r-other')], publish, clock);
    expect((await flush(publish, [mine.id])).delivered).toBe(1);
    expect((await outboxBacklog(db.pool)).undelivered).toBe(1);
  });
});

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildEvent, sourceFor } from '../../shared/events/build.js';
import { flushOutbox, stageEvents } from '../../shared/events/outbox.js';
import type { PublishMode } from '../../shared/events/outbox.js';
import { EventTypes } from '../../shared/events/types.js';
import { deadLetters, outboxBacklog, requeueDead } from '../../shared/db/queries/outbox.js';
import { classify } from '../../shared/runtime/classify.js';
import { withTransaction } from '../../shared/db/transaction.js';
import { useTestDatabase } from '../support/database.js';

const db = useTestDatabase();
const received: { path: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
let answerStatus = 202;
// Per-subject answers, for flushes where one event is refused and the others are not.
const answerBySubject = new Map<string, number>();
let baseUrl = '';
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    received.push({ path: req.url ?? '', headers: req.headers, body });
    res.writeHead(answerBySubject.get(String(req.headers['ce-subject'])) ?? answerStatus).end();
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
  answerBySubject.clear();
  await db.pool.query('delete from event_outbox');
});

let clock = new Date('2026-06-01T12:00:00Z');
const now = () => clock;

function expiredEvent(reservationId = 'r-1') {
  return buildEvent(
    EventTypes.reservationExpired,
    {
      reservationId,
      previousStatus: 'active',
      reason: 'deadline passed',
      podName: 'gpu-dev-r1',
      namespace: 'gpu-dev',
      expiresAt: '2026-06-01T11:00:00Z',
      endedAt: clock.toISOString(),
    },
    { source: sourceFor('expire'), subject: reservationId, time: clock },
  );
}

const flush = (publish: PublishMode, eventIds?: string[], maxAttempts?: number) =>
  flushOutbox({
    db: db.pool,
    publish,
    now,
    owner: 'test',
    limit: 50,
    timeoutMs: 2000,
    concurrency: 4,
    eventIds,
    maxAttempts,
  });
const later = (seconds: number) => (clock = new Date(clock.getTime() + seconds * 1000));

describe('outbox delivery', () => {
  it('delivers a staged event to the OpenFaaS consumer from the routing table, in binary mode', async () => {
    const event = expiredEvent();
    await withTransaction(db.pool, (client) =>
      stageEvents(client, [event], { mode: 'openfaas', gatewayUrl: baseUrl }, clock),
    );
    const report = await flush({ mode: 'openfaas', gatewayUrl: baseUrl });
    expect(report).toEqual({ delivered: 1, failed: 0, dead: {}, errors: [] });
    expect(received).toHaveLength(1);
    expect(received[0]!.path).toBe('/async-function/cleanup-pod');
    expect(received[0]!.headers).toMatchObject({
      'ce-id': event.id,
      'ce-type': EventTypes.reservationExpired,
      'ce-source': '/devenv-lifecycle/expire',
      'ce-subject': 'r-1',
    });
    expect(JSON.parse(received[0]!.body)).toMatchObject({ reservationId: 'r-1' });
  });

  it('sends every event to the Knative sink', async () => {
    await stageEvents(
      db.pool,
      [expiredEvent(), expiredEvent('r-2')],
      { mode: 'knative', sinkUrl: `${baseUrl}/broker` },
      clock,
    );
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
    const warned = buildEvent(
      EventTypes.reservationWarned,
      {
        reservationId: 'r-1',
        podName: 'p',
        namespace: 'n',
        expiresAt: '2026-06-01T12:30:00Z',
        levelMinutes: 30,
        minutesLeft: 29,
        warnedAt: clock.toISOString(),
      },
      { source: sourceFor('warn'), subject: 'r-1', time: clock },
    );
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

describe('events that cannot be delivered', () => {
  const publish = (): PublishMode => ({ mode: 'openfaas', gatewayUrl: baseUrl });

  it('delivers an event whose id holds a newline, and the consumer reads the real id', async () => {
    const id = 'r-1\nsecond line é';
    await stageEvents(db.pool, [expiredEvent(id)], publish(), clock);
    expect(await flush(publish())).toMatchObject({ delivered: 1, failed: 0, dead: {} });
    const [request] = received;
    expect(request!.headers['ce-subject']).toBe('r-1%0Asecond%20line%20%C3%A9');
    const headers = Object.fromEntries(Object.entries(request!.headers).map(([name, value]) => [name, String(value)]));
    const invocation = classify(
      { method: 'POST', path: request!.path, headers, rawBody: request!.body },
      { bodyLimitBytes: 65536 },
    );
    expect(invocation.kind === 'event' && invocation.event.subject).toBe(id);
    expect((await outboxBacklog(db.pool)).undelivered).toBe(0);
  });

  it('dead-letters an event refused with a permanent 4xx at once, and still delivers the others of the flush', async () => {
    answerBySubject.set('r-refused', 400);
    await stageEvents(
      db.pool,
      [expiredEvent('r-ok-1'), expiredEvent('r-refused'), expiredEvent('r-ok-2')],
      publish(),
      clock,
    );
    const report = await flush(publish());
    expect(report).toMatchObject({ delivered: 2, failed: 0, dead: { rejected: 1 } });
    expect(await outboxBacklog(db.pool)).toMatchObject({ undelivered: 0, dead: 1 });
    const [dead] = await deadLetters(db.pool, 10);
    expect(dead).toMatchObject({ subject: 'r-refused', dead_reason: 'rejected', attempts: 1 });
    expect(dead!.last_error).toMatch(/HTTP 400/);
    // Never retried, however long we wait.
    later(86_400);
    received.length = 0;
    expect(await flush(publish())).toMatchObject({ delivered: 0, failed: 0, dead: {} });
    expect(received).toHaveLength(0);
  });

  it('does NOT dead-letter a 408, a 429 or a 5xx before its attempts run out', async () => {
    answerBySubject.set('r-timeout', 408).set('r-throttled', 429).set('r-down', 503);
    await stageEvents(
      db.pool,
      ['r-timeout', 'r-throttled', 'r-down'].map((id) => expiredEvent(id)),
      publish(),
      clock,
    );
    for (let attempt = 1; attempt <= 2; attempt += 1) {
      expect(await flush(publish(), undefined, 3)).toMatchObject({ delivered: 0, failed: 3, dead: {} });
      later(3600);
    }
    expect(await outboxBacklog(db.pool)).toMatchObject({ undelivered: 3, dead: 0 });
  });

  it('dead-letters an event whose attempts run out, and an operator can requeue it', async () => {
    answerStatus = 503;
    const event = expiredEvent('r-down');
    await stageEvents(db.pool, [event], publish(), clock);
    const reports = [];
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      reports.push(await flush(publish(), undefined, 3));
      later(3600);
    }
    expect(reports.map((report) => [report.failed, report.dead.exhausted ?? 0])).toEqual([
      [1, 0],
      [1, 0],
      [0, 1],
    ]);
    expect(await deadLetters(db.pool, 10)).toMatchObject([{ dead_reason: 'exhausted', attempts: 3 }]);
    expect(await flush(publish(), undefined, 3)).toMatchObject({ delivered: 0, failed: 0 });

    answerStatus = 202;
    expect(await requeueDead(db.pool, { eventIds: [event.id] }, clock)).toBe(1);
    expect(await outboxBacklog(db.pool)).toMatchObject({ undelivered: 1, dead: 0 });
    expect(await flush(publish(), undefined, 3)).toMatchObject({ delivered: 1 });
    expect(await requeueDead(db.pool, {}, clock)).toBe(0);
  });
});

/*
 * The Knative dead-letter sink, reached through the function endpoint as the Broker reaches it:
 * a dead letter is kept once in the outbox's dead-letter state (duplicates change nothing), shows
 * in `runs` and the metric, and a malformed request is refused with a 400 problem and no row.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { formatDeadLetters, requeueDeadEvents } from '../../local/cli-outbox.js';
import { enqueueEvents, leaseDueEvents, markDelivered } from '../../shared/db/queries/outbox.js';
import { DEAD_LETTER_PATH, deadLetterSink } from '../../shared/runtime/dead-letter-sink.js';
import { createEndpoint } from '../../shared/runtime/endpoint.js';
import type { FunctionDefinition } from '../../shared/runtime/invocation.js';
import { createMetrics } from '../../shared/runtime/metrics.js';
import type { RawRequest } from '../../shared/runtime/request.js';
import { useTestDatabase } from '../support/database.js';

const db = useTestDatabase();
const now = new Date('2026-06-01T12:00:00Z');
const ID = '0b8a3f6e-1c2d-4e5f-8a9b-0c1d2e3f4a5b';
const EXPIRED = 'dev.devenv.lifecycle.reservation.expired';

function setup() {
  const metrics = createMetrics();
  const fn = {
    name: 'expire',
    consumes: [],
    handle: () => {
      throw new Error('the function must not run');
    },
  } as unknown as FunctionDefinition<never, unknown>;
  const endpoint = createEndpoint(fn, () => ({}), {
    metrics,
    logger: pino({ level: 'silent' }),
    bodyLimitBytes: 65536,
    deadLetterSink: deadLetterSink({ db: db.pool, metrics, now: () => now }),
  });
  return { metrics, endpoint };
}

function deadLetter(
  overrides: Record<string, string> = {},
  body = JSON.stringify({ reservationId: 'r-1' }),
): RawRequest {
  return {
    method: 'POST',
    path: DEAD_LETTER_PATH,
    rawBody: body,
    headers: {
      'content-type': 'application/json',
      'ce-specversion': '1.0',
      'ce-id': ID,
      'ce-source': '/devenv-lifecycle/expire',
      'ce-type': EXPIRED,
      'ce-subject': 'r-1',
      'ce-knativeerrordest': 'http://cleanup-pod.devenv-lifecycle.svc.cluster.local',
      'ce-knativeerrorcode': '500',
      'ce-knativeerrordata': Buffer.from('{"title":"Run failed"}').toString('base64'),
      ...overrides,
    },
  };
}

const rows = async () =>
  (
    await db.pool.query(
      'select event_id, destination, source, type, subject, data, dead_reason, last_error, delivered_at from event_outbox order by id',
    )
  ).rows;
const counted = async (metrics: ReturnType<typeof createMetrics>) =>
  (await metrics.eventsDeadLettered.get()).values.find((v) => v.labels.reason === 'knative')?.value ?? 0;

beforeEach(async () => {
  await db.pool.query('delete from event_outbox');
});

describe('the Knative dead-letter sink', () => {
  it('records a pod event dead letter once, however often Knative sends it, and shows it in runs', async () => {
    const { metrics, endpoint } = setup();
    for (let delivery = 0; delivery < 3; delivery += 1) {
      const answer = await endpoint(
        deadLetter({ 'ce-type': 'dev.knative.apiserver.resource.update', 'ce-source': 'https://10.0.0.1:443' }),
      );
      expect(answer).toEqual({ status: 202, headers: {}, body: '' });
    }
    const stored = await rows();
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({
      event_id: ID,
      destination: 'sink',
      source: 'https://10.0.0.1:443',
      type: 'dev.knative.apiserver.resource.update',
      subject: 'r-1',
      data: { reservationId: 'r-1' },
      dead_reason: 'knative',
      last_error: 'knative: 500 from http://cleanup-pod.devenv-lifecycle.svc.cluster.local: {"title":"Run failed"}',
    });
    expect(await counted(metrics)).toBe(1);
    const listing = await formatDeadLetters(db.pool);
    expect(listing).toContain('DEAD-LETTERED EVENTS');
    expect(listing).toMatch(
      /knative\s+0\s+dev\.knative\.apiserver\.resource\.update\s+sink\s+"r-1"\s+knative: 500 from/,
    );
  });

  it('turns the product event already delivered to the Broker dead, and requeue sends it back to the Broker', async () => {
    await enqueueEvents(
      db.pool,
      [
        {
          eventId: ID,
          destination: 'sink',
          type: EXPIRED,
          source: '/devenv-lifecycle/expire',
          subject: 'r-1',
          data: { reservationId: 'r-1' },
        },
      ],
      now,
    );
    const [row] = await leaseDueEvents(db.pool, { owner: 'o', now, limit: 1, leaseSeconds: 30 });
    await markDelivered(db.pool, [row!.id], 'o', now);
    const { metrics, endpoint } = setup();
    expect((await endpoint(deadLetter())).status).toBe(202);
    expect((await endpoint(deadLetter())).status).toBe(202);
    const stored = await rows();
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ dead_reason: 'knative', delivered_at: null });
    expect(await counted(metrics)).toBe(1);
    expect(await requeueDeadEvents(db.pool, { all: false, ids: [], eventIds: [ID] }, now)).toBe(1);
    expect(await leaseDueEvents(db.pool, { owner: 'o', now, limit: 5, leaseSeconds: 30 })).toHaveLength(1);
  });

  it('takes a structured dead letter as well', async () => {
    const { endpoint } = setup();
    const body = JSON.stringify({
      specversion: '1.0',
      id: ID,
      source: '/devenv-lifecycle/expire',
      type: EXPIRED,
      data: { reservationId: 'r-2' },
      knativeerrordest: 'http://snapshot-sync.devenv-lifecycle.svc.cluster.local',
      knativeerrorcode: '400',
    });
    const answer = await endpoint({
      method: 'POST',
      path: DEAD_LETTER_PATH,
      headers: { 'content-type': 'application/cloudevents+json' },
      rawBody: Buffer.from(body),
    });
    expect(answer.status).toBe(202);
    expect(await rows()).toMatchObject([
      {
        data: { reservationId: 'r-2' },
        last_error: 'knative: 400 from http://snapshot-sync.devenv-lifecycle.svc.cluster.local',
      },
    ]);
  });

  it('leaves an event still waiting in the outbox to the outbox', async () => {
    await enqueueEvents(
      db.pool,
      [{ eventId: ID, destination: 'sink', type: EXPIRED, source: '/devenv-lifecycle/expire', data: {} }],
      now,
    );
    const { metrics, endpoint } = setup();
    expect((await endpoint(deadLetter())).status).toBe(202);
    expect(await rows()).toMatchObject([{ dead_reason: null, delivered_at: null }]);
    expect(await counted(metrics)).toBe(0);
  });

  it.each([
    ['no CloudEvent at all', { 'ce-specversion': '' }, 'not a CloudEvent'],
    ['no knativeerrordest', { 'ce-knativeerrordest': '' }, 'knativeerrordest'],
    ['an id that is not a UUID', { 'ce-id': 'abc' }, '"id"'],
  ])('refuses %s with a 400 problem and records nothing', async (_case, overrides, named) => {
    const { metrics, endpoint } = setup();
    const request = deadLetter(overrides);
    request.headers = Object.fromEntries(Object.entries(request.headers).filter(([, value]) => value !== ''));
    const answer = await endpoint(request);
    expect(answer.status).toBe(400);
    expect(answer.headers['content-type']).toBe('application/problem+json');
    expect(answer.body).toContain(named);
    expect(await rows()).toEqual([]);
    expect(await counted(metrics)).toBe(0);
  });

  it('leaves a function without the sink answering /dead-letters as itself, not as a sink', async () => {
    const { endpoint } = setup();
    expect((await endpoint({ ...deadLetter(), method: 'GET' })).status).toBe(404);
  });
});

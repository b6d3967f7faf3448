import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Invalid, Transient } from '../../shared/errors.js';
import { buildEvent, sourceFor } from '../../shared/events/build.js';
import { deliver, Undeliverable } from '../../shared/events/deliver.js';
import { EventTypes } from '../../shared/events/types.js';
import { classify } from '../../shared/runtime/classify.js';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A loopback sink that answers with whatever the test scripts for the next request. */
let server: Server;
let baseUrl: string;
let received: Received[] = [];
let reply: { status: number; headers?: Record<string, string>; hang?: boolean } = { status: 202 };

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (reply.hang) return;
      res.writeHead(reply.status, reply.headers).end('{"message":"from the sink"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  received = [];
  reply = { status: 202 };
});

const reservationId = '9b2f4c1a-5d3e-4f6a-8b7c-1d2e3f4a5b6c';
const event = buildEvent(
  EventTypes.podCleaned,
  {
    reservationId,
    userId: 'user-8812',
    podName: 'gpu-dev-9b2f4c1a',
    namespace: 'gpu-dev',
    diskName: 'default',
    volumeId: 'vol-0a1b2c3d',
    cleanedAt: '2026-06-01T12:03:10.000Z',
  },
  { source: sourceFor('cleanup-pod'), subject: reservationId, time: new Date('2026-06-01T12:03:10Z') },
);

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('delivery succeeded');
}

describe('deliver', () => {
  it('POSTs one binary-mode event that the consuming runtime classifies back to the same event', async () => {
    await deliver(event, { url: `${baseUrl}/async-function/snapshot-sync` }, { timeoutMs: 2_000 });
    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request!.path).toBe('/async-function/snapshot-sync');
    expect(request!.headers['ce-type']).toBe(EventTypes.podCleaned);
    const invocation = classify(
      { method: 'POST', path: '/', headers: request!.headers, rawBody: request!.body },
      { bodyLimitBytes: 65536 },
    );
    expect(invocation).toMatchObject({
      kind: 'event',
      event: { id: event.id, type: EventTypes.podCleaned, data: event.data },
    });
  });

  it('treats a 500 as transient (the SDK transport would have called it delivered)', async () => {
    reply = { status: 500 };
    expect(await failureOf(deliver(event, { url: baseUrl }, { timeoutMs: 2_000 }))).toBeInstanceOf(Transient);
  });

  it('treats 503 with Retry-After, 429 and 408 as transient and keeps the hint', async () => {
    reply = { status: 503, headers: { 'retry-after': '7' } };
    const err = await failureOf(deliver(event, { url: baseUrl }, { timeoutMs: 2_000 }));
    expect(err).toBeInstanceOf(Transient);
    expect((err as Transient).retryAfterMs).toBe(7_000);
    for (const status of [429, 408]) {
      reply = { status };
      expect(await failureOf(deliver(event, { url: baseUrl }, { timeoutMs: 2_000 }))).toBeInstanceOf(Transient);
    }
  });

  it('treats 404 and 400 as permanent (Invalid)', async () => {
    for (const status of [404, 400]) {
      reply = { status };
      const err = await failureOf(deliver(event, { url: baseUrl }, { timeoutMs: 2_000 }));
      expect(err).toBeInstanceOf(Invalid);
      expect((err as Error).message).toContain(`HTTP ${status}`);
    }
  });

  it('reports a permanent refusal and an event with no HTTP form as Undeliverable, sending nothing for the latter', async () => {
    reply = { status: 422 };
    expect(await failureOf(deliver(event, { url: baseUrl }, { timeoutMs: 2_000 }))).toMatchObject({
      reason: 'rejected',
    });
    received = [];
    const err = await failureOf(deliver({ ...event, subject: 'r-\uD800' }, { url: baseUrl }, { timeoutMs: 2_000 }));
    expect(err).toBeInstanceOf(Undeliverable);
    expect(err).toMatchObject({ reason: 'unencodable' });
    expect(received).toEqual([]);
  });

  it('turns a refused connection into Transient', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect(await failureOf(deliver(event, { url: `http://127.0.0.1:${port}/` }, { timeoutMs: 2_000 }))).toBeInstanceOf(
      Transient,
    );
  });

  it('gives up after the timeout with Transient', async () => {
    reply = { status: 200, hang: true };
    const err = await failureOf(deliver(event, { url: baseUrl }, { timeoutMs: 150 }));
    expect(err).toBeInstanceOf(Transient);
    expect((err as Error).message).toContain('timed out');
  });
});

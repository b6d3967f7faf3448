/*
 * Both adapters over real loopback HTTP: the node:http listener (Knative, local) and the OpenFaaS
 * adapter inside a line-for-line port of the node22 template (with and without RAW_BODY). Every
 * recorded platform request is replayed through each and must reach `handle` classified right.
 */
import { request as httpRequest, createServer } from 'node:http';
import type { RequestListener, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Transient } from '../../shared/errors.js';
import { EventTypes } from '../../shared/events/types.js';
import type { RuntimeOptions } from '../../shared/runtime/endpoint.js';
import { createRequestListener } from '../../shared/runtime/http-server.js';
import { baseOptionsSchema, defineHandler } from '../../shared/runtime/invocation.js';
import type {
  BaseOptions,
  FunctionDefinition,
  FunctionName,
  Invocation,
  RunResult,
} from '../../shared/runtime/invocation.js';
import { createMetrics } from '../../shared/runtime/metrics.js';
import { openfaasHandler } from '../../shared/runtime/openfaas.js';
import { loadRequestFixtures } from '../fixtures/requests/index.js';
import { openfaasTemplate } from '../fixtures/requests/openfaas-template.js';
import type { TemplateHandler } from '../fixtures/requests/openfaas-template.js';

const watchdogOptions = baseOptionsSchema.extend({
  labId: z.uuid().optional(),
  olderThanMinutes: z.number().positive().optional(),
  maxLabs: z.int().positive().optional(),
  action: z.enum(['force', 'fail']).optional(),
});

interface Recorded {
  invocation: Invocation<BaseOptions>;
  ctx: { callId: string };
}

type Behaviour = (invocation: Invocation<BaseOptions>) => Promise<RunResult>;
const succeed: Behaviour = async () => ({ outcome: 'succeeded', summary: { handled: 1 } });

function recordingFunction(name: FunctionName, behave: Behaviour = succeed) {
  const calls: Recorded[] = [];
  const fn = defineHandler<BaseOptions, { callId: string }>({
    name,
    optionsSchema: name === 'ending-watchdog' ? watchdogOptions : baseOptionsSchema,
    handle: async (invocation, ctx) => {
      calls.push({ invocation, ctx });
      return behave(invocation);
    },
  });
  return { fn, calls };
}

function runtimeOptions(overrides: Partial<RuntimeOptions> = {}): RuntimeOptions & { logLines: string[] } {
  const logLines: string[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (logLines.push(chunk.toString()), done()) });
  return {
    metrics: createMetrics(),
    logger: pino({ level: 'warn' }, sink),
    bodyLimitBytes: 256 * 1024,
    logLines,
    ...overrides,
  };
}

const contextFor = (invocation: Invocation<BaseOptions>) => ({ callId: invocation.callId });

interface Adapter {
  name: string;
  rawBody?: boolean;
  listener(fn: FunctionDefinition<BaseOptions, { callId: string }>, options: RuntimeOptions): RequestListener;
}

const adapters: Adapter[] = [
  { name: 'node:http listener (Knative)', listener: (fn, options) => createRequestListener(fn, contextFor, options) },
  {
    name: 'OpenFaaS node22 template, RAW_BODY=true',
    rawBody: true,
    listener: (fn, options) =>
      openfaasTemplate(openfaasHandler(fn, contextFor, options) as unknown as TemplateHandler, { rawBody: true }),
  },
  {
    name: 'OpenFaaS node22 template, default body parsing',
    rawBody: false,
    listener: (fn, options) =>
      openfaasTemplate(openfaasHandler(fn, contextFor, options) as unknown as TemplateHandler, { rawBody: false }),
  },
];

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

async function serve(listener: RequestListener): Promise<number> {
  const server = createServer(listener);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: Record<string, unknown>;
}

/** Send exactly these headers and bytes (fetch would rewrite Host and Content-Length). */
function send(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string | Buffer = '',
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const json = (() => {
          try {
            return JSON.parse(text) as Record<string, unknown>;
          } catch {
            return {};
          }
        })();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const post = (port: number, headers: Record<string, string>, body: string | Buffer = '') =>
  send(port, 'POST', '/', headers, body);

describe.each(adapters)('$name: recorded platform requests', (adapter) => {
  for (const fixture of loadRequestFixtures()) {
    // Without RAW_BODY body-parser drops a structured event's body: the runtime must say so (400).
    const structuredWithoutRaw =
      adapter.rawBody === false && fixture.headers['content-type']?.startsWith('application/cloudevents+json');
    it(`${fixture.name}`, async () => {
      const { fn, calls } = recordingFunction(fixture.function);
      const port = await serve(adapter.listener(fn, runtimeOptions()));
      const answer = await send(port, fixture.method, fixture.path, fixture.headers, fixture.body);
      if (structuredWithoutRaw) {
        expect(answer.status).toBe(400);
        expect(answer.text).toContain('RAW_BODY=true');
        return;
      }
      expect(answer.status).toBe(fixture.expect.status);
      if (fixture.expect.status >= 400) {
        expect(answer.headers['content-type']).toContain('application/problem+json');
        expect(answer.json.errors).toEqual(
          expect.arrayContaining([expect.objectContaining({ field: fixture.expect.field })]),
        );
        expect(calls).toHaveLength(0);
        return;
      }
      if (fixture.headers.prefer === 'reply') {
        // A Broker reads a 2xx body as a reply event; anything else would fail the delivery.
        expect(answer.text).toBe('');
      } else {
        expect(answer.headers['content-type']).toContain('application/json');
        expect(answer.json).toMatchObject({
          function: fixture.function,
          trigger: fixture.expect.kind,
          outcome: 'succeeded',
          summary: { handled: 1 },
        });
      }
      expect(calls).toHaveLength(1);
      const { invocation, ctx } = calls[0]!;
      expect(ctx.callId).toBe(invocation.callId);
      expect(invocation.kind).toBe(fixture.expect.kind);
      if (fixture.expect.callId !== undefined) expect(invocation.callId).toBe(fixture.expect.callId);
      if (invocation.kind === 'schedule') expect(invocation.source).toBe(fixture.expect.source);
      if (invocation.kind === 'event') expect(invocation.event.type).toBe(fixture.expect.type);
      expect(invocation.options).toEqual(fixture.expect.options ?? { dryRun: false });
      const trace = invocation.kind === 'event' ? invocation.event.traceparent : invocation.traceparent;
      expect(trace).toBe(fixture.expect.traceparent);
    });
  }
});

const expiredEvent = {
  'content-type': 'application/json',
  'ce-specversion': '1.0',
  'ce-id': 'evt-7',
  'ce-source': '/devenv-lifecycle/expire',
  'ce-type': EventTypes.reservationExpired,
};
const expiredData = {
  reservationId: 'r-1',
  previousStatus: 'active',
  reason: 'Reservation expired',
  podName: 'gpu-dev-r1',
  namespace: 'gpu-dev',
  expiresAt: '2026-06-01T11:58:00Z',
  endedAt: '2026-06-01T12:00:10Z',
};

describe.each(adapters)('$name: answers', (adapter) => {
  async function start(name: FunctionName, behave?: Behaviour, overrides?: Partial<RuntimeOptions>) {
    const options = runtimeOptions(overrides);
    const { fn, calls } = recordingFunction(name, behave);
    return { port: await serve(adapter.listener(fn, options)), calls, options };
  }

  it('answers 500 with a JSON problem when handle throws, and logs the error', async () => {
    const { port, options } = await start('expire', async () => {
      throw new Error('db password=hunter2 rejected');
    });
    const answer = await post(port, { 'content-type': 'text/plain' });
    expect(answer.status).toBe(500);
    expect(answer.headers['content-type']).toContain('application/problem+json');
    expect(answer.json).toMatchObject({ status: 500, title: 'Internal error', callId: expect.any(String) });
    expect(answer.text).not.toContain('hunter2');
    expect(options.logLines.join('')).toContain('hunter2');
  });

  it('answers 500 with the run summary when the run reports failed actions', async () => {
    const { port } = await start('cleanup-pod', async () => ({
      outcome: 'failed',
      summary: { deleted: 2, failed: 1 },
      message: '1 pod could not be deleted',
    }));
    const answer = await post(port, { 'content-type': 'application/json' }, '{"maxItems":3}');
    expect(answer.status).toBe(500);
    expect(answer.json).toMatchObject({
      outcome: 'failed',
      summary: { deleted: 2, failed: 1 },
      detail: '1 pod could not be deleted',
      function: 'cleanup-pod',
    });
  });

  it('answers 202 for an accepted (or duplicate) event and 200 for a skipped run', async () => {
    const accepted = await start('cleanup-pod', async () => ({ outcome: 'accepted', summary: { duplicate: 1 } }));
    expect((await post(accepted.port, expiredEvent, JSON.stringify(expiredData))).status).toBe(202);
    const skipped = await start('expire', async () => ({
      outcome: 'skipped',
      summary: {},
      message: 'already running',
    }));
    const answer = await post(skipped.port, { 'x-connector': 'cron-connector' });
    expect(answer).toMatchObject({ status: 200, json: { outcome: 'skipped', message: 'already running' } });
  });

  it('answers 503 with Retry-After for a transient failure', async () => {
    const { port } = await start('warn', async () => {
      throw new Transient('throttled', 2_500);
    });
    const answer = await post(port, {});
    expect(answer.status).toBe(503);
    expect(answer.headers['retry-after']).toBe('3');
  });

  it('answers 500 when handle resolves with something that is not a RunResult', async () => {
    const { port } = await start('warn', async () => undefined as unknown as RunResult);
    expect((await post(port, {})).status).toBe(500);
  });

  const badRequests: [string, Record<string, string>, string, string, FunctionName?][] = [
    ['an unknown option', { 'content-type': 'text/plain' }, '{"dryrun":true}', 'dryrun'],
    ['a negative maxItems', { 'content-type': 'application/json' }, '{"maxItems":-5}', 'maxItems'],
    ['a maxItems past its bound', { 'content-type': 'application/json' }, '{"maxItems":1e10}', 'maxItems'],
    ['a wrongly typed option', { 'content-type': 'application/json' }, '{"dryRun":"yes"}', 'dryRun'],
    ['options that are not an object', { 'content-type': 'application/json' }, '[1,2]', 'body'],
    ['malformed JSON', { 'content-type': 'text/plain' }, '{"dryRun":', 'body'],
    ['an event without ce-id', { ...expiredEvent, 'ce-id': '' }, JSON.stringify(expiredData), 'ce-id', 'cleanup-pod'],
    ['an unknown event type', { ...expiredEvent, 'ce-type': 'com.example.other' }, '{}', 'ce-type', 'cleanup-pod'],
    [
      'event data failing its schema',
      expiredEvent,
      JSON.stringify({ ...expiredData, previousStatus: 'gone' }),
      'data.previousStatus',
      'cleanup-pod',
    ],
    ['an event this function does not consume', expiredEvent, JSON.stringify(expiredData), 'type', 'warn'],
    [
      'a zero olderThanMinutes for ending-watchdog',
      { 'content-type': 'text/plain' },
      '{"olderThanMinutes":0}',
      'olderThanMinutes',
      'ending-watchdog',
    ],
    ['a labId that is not a UUID', { 'content-type': 'text/plain' }, '{"labId":"lab-1"}', 'labId', 'ending-watchdog'],
  ];
  for (const [what, headers, body, field, name] of badRequests) {
    it(`answers 400 naming ${field} for ${what}`, async () => {
      const { port, calls } = await start(name ?? 'expire');
      const answer = await post(port, headers, body);
      // The template without RAW_BODY refuses non-object JSON itself, before the handler.
      if (adapter.rawBody === false && headers['content-type'] === 'application/json' && !body.startsWith('{')) {
        expect(answer.status).toBe(400);
        return;
      }
      expect(answer.status).toBe(400);
      expect(answer.headers['content-type']).toContain('application/problem+json');
      expect(answer.json).toMatchObject({
        type: 'urn:devenv-lifecycle:problem:invalid-input',
        title: 'Invalid input',
        status: 400,
      });
      expect(answer.json.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
      expect(calls).toHaveLength(0);
    });
  }

  it('never echoes an option value back', async () => {
    const { port } = await start('expire');
    const answer = await post(port, { 'content-type': 'text/plain' }, '{"maxItems":"<script>alert(1)</script>"}');
    expect(answer.status).toBe(400);
    expect(answer.text).not.toContain('script');
  });

  it('answers 413 for a body over the limit', async () => {
    const { port, calls } = await start('expire', undefined, { bodyLimitBytes: 1024 });
    const answer = await post(port, { 'content-type': 'text/plain' }, `{"maxItems":1}${' '.repeat(2048)}`);
    expect(answer.status).toBe(413);
    expect(answer.json).toMatchObject({ status: 413, title: 'Payload too large' });
    expect(calls).toHaveLength(0);
  });

  it('serves /healthz and /metrics, counting runs by function, trigger and outcome', async () => {
    const { port } = await start('expire');
    await post(port, { 'x-connector': 'cron-connector' });
    await post(port, { 'content-type': 'text/plain' }, '{"bogus":1}');
    expect(await send(port, 'GET', '/healthz', {})).toMatchObject({
      status: 200,
      json: { status: 'ok', function: 'expire' },
    });
    const metrics = await send(port, 'GET', '/metrics', {});
    expect(metrics.status).toBe(200);
    expect(metrics.headers['content-type']).toContain('text/plain');
    expect(metrics.text).toContain(
      'devenv_lifecycle_runs_total{function="expire",trigger="schedule",outcome="succeeded"} 1',
    );
    expect(metrics.text).toContain(
      'devenv_lifecycle_runs_total{function="expire",trigger="unknown",outcome="invalid"} 1',
    );
    expect(metrics.text).toContain(
      'devenv_lifecycle_run_duration_seconds_count{function="expire",trigger="schedule"} 1',
    );
  });

  it('answers 405 to other methods and 404 to other GET paths', async () => {
    const { port } = await start('expire');
    expect((await send(port, 'PUT', '/', {}, '{}')).status).toBe(405);
    expect((await send(port, 'GET', '/other', {})).status).toBe(404);
  });
});

describe('the bare template, for contrast', () => {
  it('answers 200 to a handler that throws: the reason the adapter catches everything', async () => {
    const port = await serve(
      openfaasTemplate(
        async () => {
          throw new Error('boom');
        },
        { rawBody: true },
      ),
    );
    const answer = await post(port, {});
    expect(answer.status).toBe(200);
    expect(answer.text).toBe('Error: boom');
  });
});

describe('node:http listener: body limit while reading', () => {
  it('answers 413 from a declared Content-Length without reading the body', async () => {
    const { fn, calls } = recordingFunction('expire');
    const port = await serve(createRequestListener(fn, contextFor, runtimeOptions({ bodyLimitBytes: 1024 })));
    const answer = await post(port, { 'content-type': 'text/plain', 'content-length': '4096' }, ' '.repeat(4096));
    expect(answer.status).toBe(413);
    expect(calls).toHaveLength(0);
  });

  it('answers 413 to a chunked body once it passes the limit', async () => {
    const { fn } = recordingFunction('expire');
    const port = await serve(createRequestListener(fn, contextFor, runtimeOptions({ bodyLimitBytes: 1024 })));
    const answer = await post(port, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' }, ' '.repeat(4096));
    expect(answer.status).toBe(413);
  });
});

describe('node:http listener: aborted uploads', () => {
  it('logs an upload cut off mid-body and keeps serving', async () => {
    const { fn, calls } = recordingFunction('expire');
    const options = runtimeOptions();
    const port = await serve(createRequestListener(fn, contextFor, options));
    await new Promise<void>((resolve) => {
      const req = httpRequest({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/',
        headers: { 'content-length': '100' },
      });
      req.on('error', () => resolve());
      req.write('{"dryRun":', () => setTimeout(() => req.destroy(), 20));
    });
    await expect.poll(() => options.logLines.join('')).toContain('request failed before reaching the function');
    expect((await post(port, {})).status).toBe(200);
    expect(calls).toHaveLength(1);
  });
});

describe('arbitrary requests', () => {
  it('are answered 200, 400 or 413 by a function that succeeds, never 5xx', async () => {
    const { fn } = recordingFunction('cleanup-pod');
    const port = await serve(createRequestListener(fn, contextFor, runtimeOptions({ bodyLimitBytes: 300 })));
    const headers = fc.dictionary(
      fc.constantFrom('content-type', 'ce-id', 'ce-type', 'ce-source', 'ce-specversion', 'x-connector', 'ce-time'),
      fc.oneof(
        fc.stringMatching(/^[\x20-\x7e]{0,30}$/),
        fc.constantFrom(
          'application/json',
          'application/cloudevents+json',
          '1.0',
          'cron-connector',
          EventTypes.reservationExpired,
        ),
      ),
    );
    await fc.assert(
      fc.asyncProperty(headers, fc.oneof(fc.string({ maxLength: 400 }), fc.json()), async (h, body) => {
        const answer = await post(port, h, body);
        expect([200, 400, 413]).toContain(answer.status);
      }),
      { numRuns: 150 },
    );
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Invalid } from '../../shared/errors.js';
import { buildEvent, sourceFor, toBinaryHttp } from '../../shared/events/build.js';
import { EventTypes } from '../../shared/events/types.js';
import { classify } from '../../shared/runtime/classify.js';
import { PayloadTooLarge } from '../../shared/runtime/request.js';
import type { RawRequest } from '../../shared/runtime/request.js';
import { loadRequestFixtures } from '../fixtures/requests/index.js';

const limits = { bodyLimitBytes: 256 * 1024 };
const fixtures = loadRequestFixtures();
const NOW = new Date('2026-06-01T12:00:00Z');

function post(headers: Record<string, string>, body: string | Buffer = ''): RawRequest {
  return { method: 'POST', path: '/', headers, rawBody: body };
}

/** The issues of the Invalid that classify throws (fails the test if it returns or throws else). */
function issuesOf(request: RawRequest): { field: string; message: string }[] {
  try {
    classify(request, limits);
  } catch (err) {
    expect(err).toBeInstanceOf(Invalid);
    return (err as Invalid).issues;
  }
  throw new Error('classify accepted the request');
}

const expiredData = {
  reservationId: '9b2f4c1a-5d3e-4f6a-8b7c-1d2e3f4a5b6c',
  previousStatus: 'active' as const,
  reason: 'Reservation expired',
  podName: 'gpu-dev-9b2f4c1a',
  namespace: 'gpu-dev',
  expiresAt: '2026-06-01T11:58:00.000Z',
  endedAt: '2026-06-01T12:00:10.000Z',
};

const binaryHeaders = {
  'content-type': 'application/json',
  'ce-specversion': '1.0',
  'ce-id': 'evt-1',
  'ce-source': '/devenv-lifecycle/expire',
  'ce-type': EventTypes.reservationExpired,
};

describe('classify: recorded platform requests', () => {
  for (const fixture of fixtures) {
    it(`${fixture.name}: ${fixture.description}`, () => {
      const request = { method: fixture.method, path: fixture.path, headers: fixture.headers, rawBody: fixture.body };
      if (fixture.expect.status === 400) {
        expect(issuesOf(request).map((issue) => issue.field)).toContain(fixture.expect.field);
        return;
      }
      const invocation = classify(request, limits);
      expect(invocation.kind).toBe(fixture.expect.kind);
      if (fixture.expect.callId !== undefined) expect(invocation.callId).toBe(fixture.expect.callId);
      if (invocation.kind === 'schedule') expect(invocation.source).toBe(fixture.expect.source);
      if (invocation.kind === 'event') {
        expect(invocation.event.type).toBe(fixture.expect.type);
        expect(invocation.event.traceparent).toBe(fixture.expect.traceparent);
      } else {
        expect(invocation.traceparent).toBe(fixture.expect.traceparent);
      }
    });
  }

  it('reads the Pod fields consumers use from an ApiServerSource update, and keeps the rest', () => {
    const fixture = fixtures.find((f) => f.name === 'knative-apiserversource-pod-update')!;
    const invocation = classify({ ...fixture, rawBody: fixture.body }, limits);
    if (invocation.kind !== 'event' || invocation.event.type !== EventTypes.podUpdated)
      throw new Error('not a pod update');
    const pod = invocation.event.data;
    expect(pod.metadata.uid).toBe('6f1c2d3e-4b5a-4978-8c6d-5e4f3a2b1c0d');
    expect(pod.status?.containerStatuses?.[0]?.lastState?.terminated?.reason).toBe('OOMKilled');
    expect((pod as Record<string, unknown>).spec).toBeDefined();
    expect(invocation.event.time?.toISOString()).toBe('2026-06-01T12:01:40.517Z');
    expect(invocation.event.subject).toBe('/apis/v1/namespaces/gpu-dev/pods/gpu-dev-9b2f4c1a');
  });
});

describe('classify: manual and scheduled requests', () => {
  it('treats an empty or blank body as no options', () => {
    expect(classify(post({ 'content-type': 'text/plain' }, '  \n'), limits)).toMatchObject({
      kind: 'manual',
      options: {},
    });
  });

  it('parses a Buffer body (RAW_BODY=true) like a string', () => {
    const invocation = classify(post({ 'content-type': 'text/plain' }, Buffer.from('{"maxItems":3}')), limits);
    expect(invocation).toMatchObject({ kind: 'manual', options: { maxItems: 3 } });
  });

  it('answers malformed JSON with the position, never the input', () => {
    const [issue] = issuesOf(post({ 'content-type': 'application/json' }, '{"dryRun": tru<script>}'));
    expect(issue).toEqual({ field: 'body', message: expect.stringMatching(/^is not valid JSON/) });
    expect(issue!.message).not.toContain('script');
  });

  it('rejects a body that is not UTF-8', () => {
    expect(issuesOf(post({}, Buffer.from([0x7b, 0xff, 0xfe, 0x7d])))[0]?.field).toBe('body');
  });

  it('replaces a call id that is not safe to echo with a fresh one', () => {
    const invocation = classify(post({ 'x-call-id': '<img src=x onerror=alert(1)>' }), limits);
    expect(invocation.callId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('ignores a malformed traceparent header, as W3C trace context requires', () => {
    const invocation = classify(post({ traceparent: '00-zz-not-a-trace' }), limits);
    expect(invocation).not.toHaveProperty('traceparent');
  });

  it('refuses a body over the limit with PayloadTooLarge, and accepts one exactly at it', () => {
    const small = { bodyLimitBytes: 16 };
    expect(() => classify(post({}, `{"maxItems":${'1'.repeat(4)}}`.padEnd(17, ' ')), small)).toThrow(PayloadTooLarge);
    expect(classify(post({}, '{"maxItems":1}'.padEnd(16, ' ')), small)).toMatchObject({ options: { maxItems: 1 } });
  });
});

describe('classify: CloudEvents', () => {
  it('names the missing ce-id of a binary event', () => {
    const { 'ce-id': _omit, ...headers } = binaryHeaders;
    expect(issuesOf(post(headers, JSON.stringify(expiredData))).map((i) => i.field)).toContain('ce-id');
  });

  it('names the missing id of a structured event (the SDK would have invented one)', () => {
    const envelope = { specversion: '1.0', source: '/x', type: EventTypes.reservationExpired, data: expiredData };
    const issues = issuesOf(post({ 'content-type': 'application/cloudevents+json' }, JSON.stringify(envelope)));
    expect(issues.map((i) => i.field)).toEqual(['id']);
  });

  it('refuses specversion 0.3, a bad time and bad extension names', () => {
    const headers = { ...binaryHeaders, 'ce-specversion': '0.3', 'ce-time': 'yesterday', 'ce-trace_id': 'x' };
    const fields = issuesOf(post(headers, JSON.stringify(expiredData))).map((i) => i.field);
    expect(fields).toEqual(expect.arrayContaining(['ce-specversion', 'ce-time', 'ce-trace_id']));
  });

  it('names the type of an event nobody consumes here', () => {
    const headers = { ...binaryHeaders, 'ce-type': 'dev.knative.apiserver.ref.update' };
    expect(issuesOf(post(headers, '{}'))).toEqual([{ field: 'ce-type', message: 'unknown event type' }]);
  });

  it('validates data against the type schema, naming nested fields and unknown ones', () => {
    const data = { ...expiredData, previousStatus: 'expired', reservationId: '', note: 'extra' };
    const fields = issuesOf(post(binaryHeaders, JSON.stringify(data))).map((i) => i.field);
    expect(fields.sort()).toEqual(['data.note', 'data.previousStatus', 'data.reservationId']);
  });

  it('names a Pod without a uid', () => {
    const pod = { metadata: { name: 'p', namespace: 'gpu-dev' } };
    const headers = { ...binaryHeaders, 'ce-type': EventTypes.podDeleted };
    expect(issuesOf(post(headers, JSON.stringify(pod))).map((i) => i.field)).toEqual(['data.metadata.uid']);
  });

  it('refuses malformed JSON data and non-JSON data', () => {
    expect(issuesOf(post(binaryHeaders, '{"reservationId":'))[0]?.field).toBe('body');
    expect(issuesOf(post({ ...binaryHeaders, 'content-type': 'application/xml' }, '<a/>'))[0]?.field).toBe(
      'content-type',
    );
    expect(issuesOf(post({ ...binaryHeaders, 'content-type': 'text/plain' }, 'hello'))[0]?.field).toBe('body');
  });

  it('reads JSON data sent as text/plain, which is what the template makes of a missing Content-Type', () => {
    const headers = { ...binaryHeaders, 'content-type': 'text/plain', 'ce-type': 'dev.knative.sources.ping' };
    expect(classify(post(headers, '{"maxItems":2}'), limits)).toMatchObject({
      kind: 'schedule',
      options: { maxItems: 2 },
    });
  });

  it('reads JSON data whatever the charset parameter looks like (the SDK would leave a string)', () => {
    const headers = { ...binaryHeaders, 'content-type': 'application/json;charset=UTF-8' };
    const invocation = classify(post(headers, JSON.stringify(expiredData)), limits);
    expect(invocation.kind === 'event' && invocation.event.data).toEqual(expiredData);
  });

  it('explains an empty structured event (OpenFaaS without RAW_BODY)', () => {
    const [issue] = issuesOf(post({ 'content-type': 'application/cloudevents+json' }, ''));
    expect(issue).toMatchObject({ field: 'body', message: expect.stringContaining('RAW_BODY=true') });
  });

  it('refuses structured events with binary data or another format', () => {
    const envelope = {
      specversion: '1.0',
      id: '1',
      source: '/x',
      type: EventTypes.reservationExpired,
      data_base64: 'e30=',
    };
    expect(issuesOf(post({ 'content-type': 'application/cloudevents+json' }, JSON.stringify(envelope)))[0]?.field).toBe(
      'data_base64',
    );
    expect(issuesOf(post({ 'content-type': 'application/cloudevents+xml' }, '<e/>'))[0]?.field).toBe('content-type');
  });

  it('takes a PingSource data object as the run options', () => {
    const headers = {
      ...binaryHeaders,
      'ce-type': 'dev.knative.sources.ping',
      'ce-source': '/apis/v1/namespaces/d/pingsources/warn',
    };
    const invocation = classify(post(headers, '{"dryRun":true}'), limits);
    expect(invocation).toMatchObject({
      kind: 'schedule',
      source: 'pingsource',
      callId: 'evt-1',
      options: { dryRun: true },
    });
  });

  it('parses what buildEvent and toBinaryHttp produce back into the same event', () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const event = buildEvent(EventTypes.reservationExpired, expiredData, {
      source: sourceFor('expire'),
      subject: expiredData.reservationId,
      time: NOW,
      traceparent,
    });
    const message = toBinaryHttp(event);
    const invocation = classify(post(message.headers, message.body), limits);
    expect(invocation).toMatchObject({
      kind: 'event',
      callId: event.id,
      event: {
        type: event.type,
        source: '/devenv-lifecycle/expire',
        id: event.id,
        subject: expiredData.reservationId,
        time: NOW,
        data: expiredData,
        traceparent,
      },
    });
  });
});

describe('classify: arbitrary input', () => {
  const headerName = fc.constantFrom(
    'content-type',
    'ce-id',
    'ce-type',
    'ce-source',
    'ce-specversion',
    'ce-time',
    'ce-subject',
    'ce-traceparent',
    'x-connector',
    'x-call-id',
    'traceparent',
    'ce-Bad_Name',
    'prefer',
  );
  const headerValue = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.constantFrom(
      'application/json',
      'text/plain',
      'application/cloudevents+json',
      'application/cloudevents-batch+json',
      'application/cloudevents+json; charset=UTF-8',
      '1.0',
      '0.3',
      'cron-connector',
      'dev.knative.sources.ping',
      ...Object.values(EventTypes),
      '2026-06-01T12:00:00Z',
    ),
  );
  const body = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.json({ maxDepth: 3 }),
    fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
    fc
      .record(
        {
          specversion: fc.constantFrom('1.0', 1, null),
          id: fc.string(),
          source: fc.string(),
          type: fc.constantFrom(...Object.values(EventTypes)),
          data: fc.jsonValue(),
        },
        { requiredKeys: [] },
      )
      .map((e) => JSON.stringify(e)),
  );

  it('returns an invocation or throws Invalid / PayloadTooLarge, nothing else', () => {
    fc.assert(
      fc.property(fc.dictionary(headerName, headerValue, { maxKeys: 8 }), body, (headers, rawBody) => {
        try {
          classify(post(headers, rawBody), { bodyLimitBytes: 150 });
        } catch (err) {
          if (!(err instanceof Invalid || err instanceof PayloadTooLarge)) throw err;
          if (err instanceof Invalid) expect(err.issues.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

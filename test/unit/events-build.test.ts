import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Invalid } from '../../shared/errors.js';
import { buildEvent, sourceFor, toBinaryHttp } from '../../shared/events/build.js';
import { consumersOf, typesConsumedBy } from '../../shared/events/routing.js';
import { eventDataSchemas } from '../../shared/events/schemas.js';
import { isTraceparent } from '../../shared/events/traceparent.js';
import { EventTypes, isEventType, POD_EVENT_TYPES } from '../../shared/events/types.js';
import type { EventType } from '../../shared/events/types.js';
import { classify } from '../../shared/runtime/classify.js';
import { baseOptionsSchema, defineHandler, FUNCTION_NAMES } from '../../shared/runtime/invocation.js';

const NOW = new Date('2026-06-01T12:00:00Z');
const TRACE = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const labId = '3f2c8a4e-1b7d-4c59-9a0e-6d8f2b1c7e55';

const finished = {
  labId,
  action: 'force' as const,
  endingSince: '2026-06-01T11:00:00.000Z',
  finishedAt: '2026-06-01T12:00:00.000Z',
  evidenceExpiresAt: '2026-06-02T12:00:00.000Z',
};

function invalidFields(build: () => unknown): string[] {
  try {
    build();
  } catch (err) {
    expect(err).toBeInstanceOf(Invalid);
    return (err as Invalid).issues.map((issue) => issue.field);
  }
  throw new Error('expected Invalid');
}

describe('event types', () => {
  it('puts our own types under one lower-case reverse-DNS prefix and keeps the ApiServerSource names', () => {
    const ours = Object.values(EventTypes).filter((type) => !(POD_EVENT_TYPES as readonly string[]).includes(type));
    expect(ours).toHaveLength(13);
    for (const type of ours) expect(type).toMatch(/^dev\.devenv\.lifecycle\.[a-z]+\.[a-z]+(-[a-z]+)*$/);
    expect(POD_EVENT_TYPES).toEqual([
      'dev.knative.apiserver.resource.add',
      'dev.knative.apiserver.resource.update',
      'dev.knative.apiserver.resource.delete',
    ]);
    expect(isEventType('dev.knative.sources.ping')).toBe(false);
  });
});

describe('buildEvent', () => {
  it('builds a CloudEvents 1.0 event with the given time, source, subject and trace context', () => {
    const event = buildEvent(EventTypes.labFinished, finished, {
      source: sourceFor('ending-watchdog'),
      subject: labId,
      id: 'e-1',
      time: NOW,
      traceparent: TRACE,
    });
    expect(event).toEqual({
      specversion: '1.0',
      id: 'e-1',
      type: 'dev.devenv.lifecycle.lab.finished',
      source: '/devenv-lifecycle/ending-watchdog',
      subject: labId,
      time: '2026-06-01T12:00:00.000Z',
      datacontenttype: 'application/json',
      traceparent: TRACE,
      data: finished,
    });
  });

  it('gives every event a fresh UUID when no id is passed', () => {
    const options = { source: sourceFor('ending-watchdog'), subject: labId, time: NOW };
    const [a, b] = [
      buildEvent(EventTypes.labFinished, finished, options),
      buildEvent(EventTypes.labFinished, finished, options),
    ];
    expect(a.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.id).not.toBe(b.id);
  });

  it('refuses data that fails the schema, naming the fields', () => {
    const bad = { ...finished, labId: 'not-a-uuid', owner: 'alice@example.com' } as unknown as typeof finished;
    const fields = invalidFields(() =>
      buildEvent(EventTypes.labFinished, bad, { source: '/s', subject: 's', time: NOW }),
    );
    expect(fields.sort()).toEqual(['data.labId', 'data.owner']);
  });

  it('refuses a malformed traceparent and an empty subject', () => {
    expect(
      invalidFields(() =>
        buildEvent(EventTypes.labFinished, finished, { source: '/s', subject: 's', time: NOW, traceparent: 'abc' }),
      ),
    ).toEqual(['traceparent']);
    expect(
      invalidFields(() => buildEvent(EventTypes.labFinished, finished, { source: '/s', subject: '', time: NOW })),
    ).toEqual(['subject']);
  });

  it('encodes binary mode: ce-* headers, JSON body, and the trace in the transport header too', () => {
    const event = buildEvent(EventTypes.labFinished, finished, {
      source: '/devenv-lifecycle/ending-watchdog',
      subject: labId,
      id: 'e-2',
      time: NOW,
      traceparent: TRACE,
    });
    const message = toBinaryHttp(event);
    expect(message.headers).toMatchObject({
      'content-type': 'application/json',
      'ce-specversion': '1.0',
      'ce-id': 'e-2',
      'ce-type': EventTypes.labFinished,
      'ce-source': '/devenv-lifecycle/ending-watchdog',
      'ce-subject': labId,
      'ce-time': '2026-06-01T12:00:00.000Z',
      'ce-traceparent': TRACE,
      traceparent: TRACE,
    });
    expect(JSON.parse(message.body)).toEqual(finished);
  });

  it('survives a JSON round trip (as the outbox stores it) and still encodes the same message', () => {
    const event = buildEvent(EventTypes.labFinished, finished, { source: '/s', subject: labId, time: NOW });
    expect(toBinaryHttp(JSON.parse(JSON.stringify(event)))).toEqual(toBinaryHttp(event));
  });
});

describe('produced events are accepted by the consumer', () => {
  const ended = fc.record({
    reservationId: fc.string({ minLength: 1, maxLength: 64 }),
    previousStatus: fc.constantFrom('queued', 'pending', 'preparing', 'active') as fc.Arbitrary<
      'queued' | 'pending' | 'preparing' | 'active'
    >,
    reason: fc.string({ minLength: 1, maxLength: 300 }),
    podName: fc.option(fc.stringMatching(/^[a-z0-9-]{1,63}$/), { nil: null }),
    namespace: fc.option(fc.stringMatching(/^[a-z0-9-]{1,63}$/), { nil: null }),
    expiresAt: fc.option(
      fc
        .date({ noInvalidDate: true, min: new Date('2000-01-01'), max: new Date('2100-01-01') })
        .map((d) => d.toISOString()),
      { nil: null },
    ),
    endedAt: fc
      .date({ noInvalidDate: true, min: new Date('2000-01-01'), max: new Date('2100-01-01') })
      .map((d) => d.toISOString()),
  });
  const type = fc.constantFrom(
    EventTypes.reservationExpired,
    EventTypes.reservationFailed,
    EventTypes.reservationCancelled,
  );

  it('for any valid reservation-ended data, build -> binary HTTP -> classify gives back the data', () => {
    fc.assert(
      fc.property(type, ended, (eventType, data) => {
        const event = buildEvent(eventType, data, {
          source: sourceFor('expire'),
          subject: data.reservationId,
          time: NOW,
        });
        const message = toBinaryHttp(event);
        const invocation = classify(
          { method: 'POST', path: '/', headers: message.headers, rawBody: message.body },
          { bodyLimitBytes: 65536 },
        );
        expect(invocation.kind === 'event' && invocation.event).toMatchObject({ type: eventType, id: event.id, data });
      }),
      { numRuns: 300 },
    );
  });
});

describe('routing table', () => {
  it('routes as SPEC section 3 says', () => {
    for (const type of [EventTypes.reservationExpired, EventTypes.reservationFailed, EventTypes.reservationCancelled]) {
      expect(consumersOf(type)).toEqual(['cleanup-pod']);
    }
    expect(consumersOf(EventTypes.podCleaned)).toEqual(['snapshot-sync']);
    for (const type of POD_EVENT_TYPES) expect(consumersOf(type)).toEqual(['expire', 'oom-scan']);
    expect(consumersOf(EventTypes.labFinished)).toEqual([]);
  });

  it('answers typesConsumedBy as the inverse of consumersOf for every function', () => {
    const allTypes = Object.keys(eventDataSchemas) as EventType[];
    for (const fn of FUNCTION_NAMES) {
      expect(typesConsumedBy(fn).sort()).toEqual(allTypes.filter((type) => consumersOf(type).includes(fn)).sort());
    }
    expect(typesConsumedBy('warn')).toEqual([]);
    expect(typesConsumedBy('ending-watchdog')).toEqual([]);
  });

  it('is what defineHandler gives a function to consume', () => {
    const fn = defineHandler({
      name: 'cleanup-pod',
      optionsSchema: baseOptionsSchema,
      handle: async () => ({ outcome: 'succeeded', summary: {} }),
    });
    expect([...fn.consumes].sort()).toEqual(
      [
        EventTypes.reservationCancelled,
        EventTypes.reservationEndedByUser,
        EventTypes.reservationExpired,
        EventTypes.reservationFailed,
      ].sort(),
    );
  });
});

describe('options schema', () => {
  const watchdog = baseOptionsSchema.extend({
    labId: z.uuid().optional(),
    olderThanMinutes: z.number().positive().optional(),
  });

  it('defaults dryRun, and stays strict when a function extends it', () => {
    expect(baseOptionsSchema.parse({})).toEqual({ dryRun: false });
    expect(watchdog.safeParse({ labId, sneaky: 1 }).success).toBe(false);
    expect(watchdog.parse({ labId, maxItems: 2 })).toEqual({ dryRun: false, labId, maxItems: 2 });
  });

  it('refuses zero, negative and fractional maxItems', () => {
    for (const maxItems of [0, -1, 1.5, '3']) expect(baseOptionsSchema.safeParse({ maxItems }).success).toBe(false);
  });
});

describe('traceparent', () => {
  it('accepts W3C version 00 and future versions, refuses the invalid forms', () => {
    expect(isTraceparent(TRACE)).toBe(true);
    expect(isTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra')).toBe(true);
    for (const bad of [
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra',
      '',
    ]) {
      expect(isTraceparent(bad)).toBe(false);
    }
  });
});

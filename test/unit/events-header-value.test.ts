/*
 * CloudEvents attribute values as HTTP header values (HTTP binding 3.1.3.2): what we send is a
 * legal header value for any id the database can hold, and what a consumer reads back is the id.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Invalid } from '../../shared/errors.js';
import { buildEvent, sourceFor, toBinaryHttp } from '../../shared/events/build.js';
import { BadHeaderValue, decodeHeaderValue, encodeHeaderValue } from '../../shared/events/header-value.js';
import { EventTypes } from '../../shared/events/types.js';
import { classify } from '../../shared/runtime/classify.js';

const NOW = new Date('2026-06-01T12:00:00Z');

function expired(reservationId: string) {
  return buildEvent(
    EventTypes.reservationExpired,
    {
      reservationId,
      previousStatus: 'active',
      reason: 'deadline passed',
      podName: null,
      namespace: null,
      expiresAt: null,
      endedAt: NOW.toISOString(),
    },
    { source: sourceFor('expire'), subject: reservationId, time: NOW },
  );
}

/** What a consumer behind the gateway sees for a binary request with these headers. */
function consume(headers: Record<string, string>, body: string) {
  return classify({ method: 'POST', path: '/', headers, rawBody: body }, { bodyLimitBytes: 65536 });
}

describe('header value encoding', () => {
  it('encodes the specification example and leaves printable ASCII alone', () => {
    expect(encodeHeaderValue('Euro \u20AC \u{1F600}')).toBe('Euro%20%E2%82%AC%20%F0%9F%98%80');
    expect(encodeHeaderValue('/devenv-lifecycle/expire')).toBe('/devenv-lifecycle/expire');
    expect(encodeHeaderValue('r-1\n"50%"\t')).toBe('r-1%0A%2250%25%22%09');
  });

  it('produces a legal header value for any string with a UTF-8 form, and decodes back to it', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (value) => {
        const encoded = encodeHeaderValue(value);
        expect(encoded).toMatch(/^[\x21-\x7e]*$/);
        expect(() => new Headers({ 'ce-subject': encoded })).not.toThrow();
        expect(decodeHeaderValue(encoded)).toBe(value);
      }),
    );
  });

  it('refuses a lone surrogate, which has no UTF-8 form', () => {
    expect(() => encodeHeaderValue('r-\uD800')).toThrow(BadHeaderValue);
  });

  it('decodes lower-case escapes, unnecessary escapes and double-quoted values from older senders', () => {
    expect(decodeHeaderValue('r%2d1%0a')).toBe('r-1\n');
    expect(decodeHeaderValue('"a \\"quoted\\" id"')).toBe('a "quoted" id');
    expect(decodeHeaderValue('100%')).toBe('100%');
  });

  it('rejects escapes that are not valid UTF-8 (an overlong space, a cut sequence)', () => {
    expect(() => decodeHeaderValue('a%C0%A0b')).toThrow(BadHeaderValue);
    expect(() => decodeHeaderValue('a%E2%82')).toThrow(BadHeaderValue);
  });
});

describe('an id with a newline on the event chain', () => {
  it('is sent as a legal ce-subject and read back by the consumer as the real id', () => {
    const id = 'r-1\nrm -rf / "x" é';
    const message = toBinaryHttp(expired(id));
    expect(message.headers['ce-subject']).toBe('r-1%0Arm%20-rf%20/%20%22x%22%20%C3%A9');
    expect(() => new Headers(message.headers)).not.toThrow();
    const invocation = consume(message.headers, message.body);
    expect(invocation.kind).toBe('event');
    if (invocation.kind !== 'event') return;
    expect(invocation.event.subject).toBe(id);
    expect(invocation.event.data).toMatchObject({ reservationId: id });
  });

  it('answers 400 naming ce-subject when its escapes are not UTF-8', () => {
    const message = toBinaryHttp(expired('r-1'));
    try {
      consume({ ...message.headers, 'ce-subject': 'r%C0%A0' }, message.body);
      throw new Error('expected Invalid');
    } catch (err) {
      expect(err).toBeInstanceOf(Invalid);
      expect((err as Invalid).issues.map((issue) => issue.field)).toContain('ce-subject');
    }
  });
});

/*
 * The translation table of shared/kube/errors.ts. NotFound is evidence of absence, so it is
 * checked hardest: only a Status with reason NotFound that names the object in question.
 */
import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { Conflict, Fatal, Invalid, NotFound, Transient } from '../../shared/errors.js';
import { fromHttpFailure, translateKubeError } from '../../shared/kube/errors.js';

const status = (code: number, reason: string, details?: object) =>
  JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    status: 'Failure',
    message: `m ${code}`,
    reason,
    ...(details && { details }),
    code,
  });

describe('fromHttpFailure', () => {
  it.each([
    [404, status(404, 'NotFound', { name: 'p', kind: 'pods' }), 'p', NotFound],
    [404, status(404, 'NotFound', { name: 'p', kind: 'pods' }), undefined, NotFound],
    [404, status(404, 'NotFound', { name: 'other', kind: 'pods' }), 'p', Fatal],
    [404, status(404, 'NotFound', {}), 'p', Fatal],
    [404, '<html>404 page not found</html>', 'p', Fatal],
    [404, undefined, 'p', Fatal],
    [409, status(409, 'Conflict'), 'p', Conflict],
    [400, status(400, 'BadRequest'), undefined, Invalid],
    [422, status(422, 'Invalid'), undefined, Invalid],
    [401, undefined, undefined, Fatal],
    [403, status(403, 'Forbidden'), undefined, Fatal],
    [405, status(405, 'MethodNotAllowed'), undefined, Fatal],
    [408, undefined, undefined, Transient],
    [410, status(410, 'Expired'), undefined, Transient],
    [429, status(429, 'TooManyRequests'), undefined, Transient],
    [500, status(500, 'InternalError'), undefined, Transient],
    [502, 'Bad Gateway', undefined, Transient],
    [503, status(503, 'ServiceUnavailable'), undefined, Transient],
    [504, status(504, 'Timeout'), undefined, Transient],
  ])('HTTP %i %s about %s is %o', (code, body, name, kind) => {
    const err = fromHttpFailure({ code, ...(body !== undefined && { body }) }, 'get pod ns/p', 'cause', name);
    expect(err).toBeInstanceOf(kind);
    expect(err.cause).toBe('cause');
  });

  it('takes the pause a throttled request asks for from Retry-After, else from the Status', () => {
    const fromHeader = fromHttpFailure(
      { code: 429, body: status(429, 'TooManyRequests', { retryAfterSeconds: 9 }), retryAfter: '4' },
      'x',
      null,
    );
    expect((fromHeader as Transient).retryAfterMs).toBe(4_000);
    const fromStatus = fromHttpFailure(
      { code: 429, body: status(429, 'TooManyRequests', { retryAfterSeconds: 9 }) },
      'x',
      null,
    );
    expect((fromStatus as Transient).retryAfterMs).toBe(9_000);
    expect((fromHttpFailure({ code: 503 }, 'x', null) as Transient).retryAfterMs).toBeUndefined();
  });

  it('says what failed, with the reason and message, in one line', () => {
    expect(fromHttpFailure({ code: 500, body: status(500, 'InternalError') }, 'list pods in dev', null).message).toBe(
      'list pods in dev: HTTP 500 InternalError: m 500',
    );
  });
});

describe('translateKubeError', () => {
  it("translates the client's ApiException without its headers in the message", () => {
    const thrown = new ApiException(
      404,
      'Unknown API Status Code!',
      status(404, 'NotFound', { name: 'p', kind: 'pods' }),
      { 'set-cookie': 'secret' },
    );
    const err = translateKubeError(thrown, 'get pod ns/p', 'p');
    expect(err).toBeInstanceOf(NotFound);
    expect(err.message).not.toContain('secret');
    expect(err.cause).toBe(thrown);
  });

  it.each(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE'])(
    'a %s is Transient',
    (code) => {
      expect(translateKubeError(Object.assign(new Error('request failed'), { code }), 'x')).toBeInstanceOf(Transient);
    },
  );

  it('finds a network code on the cause, and recognises a socket hang up by its message', () => {
    expect(
      translateKubeError(
        new Error('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }) }),
        'x',
      ),
    ).toBeInstanceOf(Transient);
    expect(translateKubeError(new Error('request to http://h failed, reason: socket hang up'), 'x')).toBeInstanceOf(
      Transient,
    );
  });

  it('leaves typed errors as they are and makes anything else Fatal', () => {
    const conflict = new Conflict('c');
    expect(translateKubeError(conflict, 'x')).toBe(conflict);
    expect(translateKubeError(new TypeError('bug'), 'x')).toBeInstanceOf(Fatal);
    expect(translateKubeError('a string', 'x')).toBeInstanceOf(Fatal);
  });
});

/*
 * Results and errors -> HTTP, in one place (SPEC section 3, 5.8). Bad input is 400 with an RFC
 * 9457 problem naming the fields; transient trouble is 503 so Knative and OpenFaaS Pro retry; a
 * run whose actions failed is 500, never 200. Problem details never carry an error's message
 * unless it is an Invalid (whose messages name fields, not values): internals stay in the logs,
 * and the call id ties the two together.
 */
import { Conflict, Invalid, Transient } from '../errors.js';
import type { InvalidIssue } from '../errors.js';
import type { FunctionName, RunResult, TriggerKind } from './invocation.js';
import { clip } from '../issues.js';
import { PayloadTooLarge } from './request.js';

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface RunMeta {
  fn: FunctionName;
  trigger: TriggerKind;
  callId: string;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const PROBLEM_TYPE = 'application/problem+json';
const problemUri = (slug: string) => `urn:devenv-lifecycle:problem:${slug}`;

interface Problem {
  slug: string;
  title: string;
  status: number;
  detail: string;
  errors?: InvalidIssue[];
  [extension: string]: unknown;
}

function problem({ slug, ...rest }: Problem, headers: Record<string, string> = {}): HttpAnswer {
  return {
    status: rest.status,
    headers: { 'content-type': PROBLEM_TYPE, ...headers },
    body: JSON.stringify({ type: problemUri(slug), ...rest }),
  };
}

// halted: the run finished and chose to act on nothing; the report says why and how to override.
const STATUS_BY_OUTCOME = { succeeded: 200, skipped: 200, accepted: 202, halted: 200 } as const;

export function answerResult(result: RunResult, meta: RunMeta): HttpAnswer {
  const report = { function: meta.fn, trigger: meta.trigger, callId: meta.callId, ...result };
  if (result.outcome === 'failed') {
    const detail = result.message ?? 'some actions failed; the next run retries them';
    return problem({ slug: 'run-failed', title: 'Run failed', status: 500, detail, ...report });
  }
  // Not acknowledged, so the platform delivers the event again (run-scope.ts, EventAnswer).
  if (result.eventHeld) {
    const detail = result.message ?? 'a safety rail held the run before it recorded the event';
    return problem({ slug: 'event-held', title: 'Event held by a safety rail', status: 503, detail, ...report });
  }
  return {
    status: STATUS_BY_OUTCOME[result.outcome],
    headers: { 'content-type': JSON_TYPE },
    body: JSON.stringify(report),
  };
}

export function answerError(err: unknown, callId?: string): HttpAnswer {
  const ids = callId === undefined ? {} : { callId };
  if (err instanceof Invalid) {
    const errors = err.issues.length > 0 ? err.issues : [{ field: 'request', message: 'is invalid' }];
    return problem({
      slug: 'invalid-input',
      title: 'Invalid input',
      status: 400,
      detail: clip(err.message, 500),
      errors,
      ...ids,
    });
  }
  if (err instanceof PayloadTooLarge) return tooLarge(err.limitBytes);
  if (err instanceof Transient) {
    const retryAfter: Record<string, string> =
      err.retryAfterMs === undefined ? {} : { 'retry-after': String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))) };
    const detail = 'a dependency is temporarily unavailable; retry later';
    return problem(
      { slug: 'temporarily-unavailable', title: 'Temporarily unavailable', status: 503, detail, ...ids },
      retryAfter,
    );
  }
  if (err instanceof Conflict) {
    const detail = 'the state changed while the run was working; retry';
    return problem({ slug: 'conflict', title: 'Conflict', status: 409, detail, ...ids });
  }
  const detail = 'the run stopped on an unexpected error; the function log has the details';
  return problem({ slug: 'internal-error', title: 'Internal error', status: 500, detail, ...ids });
}

export function tooLarge(limitBytes: number): HttpAnswer {
  const detail = `the request body exceeds the limit of ${limitBytes} bytes`;
  return problem(
    { slug: 'payload-too-large', title: 'Payload too large', status: 413, detail },
    { connection: 'close' },
  );
}

export function methodNotAllowed(): HttpAnswer {
  const detail = 'functions are invoked with POST; GET serves /healthz and /metrics';
  return problem(
    { slug: 'method-not-allowed', title: 'Method not allowed', status: 405, detail },
    { allow: 'GET, POST' },
  );
}

export function notFound(): HttpAnswer {
  return problem({
    slug: 'not-found',
    title: 'Not found',
    status: 404,
    detail: 'GET serves /healthz and /metrics only',
  });
}

export function jsonAnswer(status: number, value: unknown): HttpAnswer {
  return { status, headers: { 'content-type': JSON_TYPE }, body: JSON.stringify(value) };
}

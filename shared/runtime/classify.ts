/*
 * One HTTP request -> one Invocation, for both platforms:
 *   - a CloudEvent (any `ce-*` header, or an application/cloudevents* body): a PingSource tick is
 *     a schedule, anything else an event; batches are refused;
 *   - `X-Connector: cron-connector` (empty body): a schedule;
 *   - anything else: a manual run whose body, if any, is the JSON options object (`faas-cli
 *     invoke` sends it as text/plain, curl as application/json); its caller is the user agent's
 *     first product token, recorded with the run.
 * Every failure is Invalid or PayloadTooLarge; options are checked later against the function's
 * own schema.
 */
import { randomUUID } from 'node:crypto';
import { Invalid } from '../errors.js';
import { parseCloudEvent, parseJson } from '../events/parse.js';
import { isTraceparent } from '../events/traceparent.js';
import type { Invocation } from './invocation.js';
import { bodyBytes, normalizeHeaders, PayloadTooLarge } from './request.js';
import type { RawRequest } from './request.js';

export interface ClassifyOptions {
  bodyLimitBytes: number;
}

const BATCH_TYPE = 'application/cloudevents-batch+json';
const STRUCTURED_TYPE = 'application/cloudevents+json';
// Call ids end up in answers and logs; anything else is replaced rather than echoed.
const SAFE_CALL_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export function classify(request: RawRequest, { bodyLimitBytes }: ClassifyOptions): Invocation {
  if (bodyBytes(request.rawBody) > bodyLimitBytes) throw new PayloadTooLarge(bodyLimitBytes);
  const headers = normalizeHeaders(request.headers);
  const body = decode(request.rawBody);
  const mediaType = (headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (mediaType.startsWith('application/cloudevents') || Object.keys(headers).some((name) => name.startsWith('ce-'))) {
    return classifyCloudEvent(headers, mediaType, body);
  }
  const callId = safeCallId(headers['x-call-id']);
  const trace = traceOf(headers.traceparent);
  const options = body.trim() === '' ? {} : parseJson(body, 'body');
  if (headers['x-connector'] === 'cron-connector') {
    return { kind: 'schedule', source: 'cron-connector', callId, options, ...trace };
  }
  return { kind: 'manual', callId, options, ...trace, ...callerOf(headers['user-agent']) };
}

/** What the runs table records as a run's source: the scheduler, the manual caller, or the event's producer. */
export function sourceOf(invocation: Invocation): string | undefined {
  if (invocation.kind === 'schedule') return invocation.source;
  if (invocation.kind === 'event') return invocation.event.source;
  return invocation.caller;
}

// The caller's first product token (`curl/8.5.0`, `Go-http-client/1.1` for faas-cli): enough for an
// operator to tell the CLI from a person with curl, short and safe to store and print.
const PRODUCT = /^[A-Za-z0-9._-]{1,40}(?:\/[A-Za-z0-9._-]{1,20})?/;

function callerOf(userAgent: string | undefined): { caller?: string } {
  const product = userAgent === undefined ? undefined : PRODUCT.exec(userAgent.trim())?.[0];
  return product === undefined ? {} : { caller: product };
}

function classifyCloudEvent(headers: Record<string, string>, mediaType: string, body: string): Invocation {
  if (mediaType === BATCH_TYPE) {
    throw new Invalid('batched CloudEvents are not accepted', [
      { field: 'content-type', message: 'send one event per request' },
    ]);
  }
  const structured = mediaType.startsWith('application/cloudevents');
  if (structured && mediaType !== STRUCTURED_TYPE) {
    throw new Invalid('unsupported CloudEvents format', [
      { field: 'content-type', message: `must be ${STRUCTURED_TYPE}` },
    ]);
  }
  const parsed = parseCloudEvent({ headers, mediaType, body }, structured ? 'structured' : 'binary');
  if (parsed.kind === 'event')
    return { kind: 'event', callId: safeCallId(parsed.event.id), event: parsed.event, options: {} };
  const trace = parsed.traceparent === undefined ? {} : { traceparent: parsed.traceparent };
  return {
    kind: 'schedule',
    source: 'pingsource',
    callId: safeCallId(parsed.id),
    options: parsed.data ?? {},
    ...trace,
  };
}

function decode(rawBody: Buffer | string): string {
  if (typeof rawBody === 'string') return rawBody;
  try {
    return utf8.decode(rawBody);
  } catch {
    throw new Invalid('body is not UTF-8 text', [{ field: 'body', message: 'must be UTF-8 encoded JSON' }]);
  }
}

function safeCallId(value: string | undefined): string {
  return value !== undefined && SAFE_CALL_ID.test(value) ? value : randomUUID();
}

/** W3C: a malformed traceparent is ignored, not an error (trace-context section 4.3). */
function traceOf(value: string | undefined): { traceparent?: string } {
  return value !== undefined && isTraceparent(value) ? { traceparent: value } : {};
}

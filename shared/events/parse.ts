/*
 * The consuming end: one HTTP request -> one validated CloudEvent. The SDK's HTTP.toEvent does
 * not validate, fills a missing `time` with "now", turns an unparseable `time` into "now" and
 * wraps non-JSON bodies in quotes, so the attributes and the data are
 * checked here first and the SDK only confirms the result with `validate()`.
 */
import { HTTP } from 'cloudevents';
import type { CloudEvent } from 'cloudevents';
import { Invalid } from '../errors.js';
import type { InvalidIssue } from '../errors.js';
import { invalidFrom, zodIssues } from '../issues.js';
import { attributeField, attributeSchema, checkAttributeNames, sdkIssues } from './attributes.js';
import type { Attributes, Mode } from './attributes.js';
import { decodeHeaderValue, BadHeaderValue } from './header-value.js';
import { eventDataSchemas } from './schemas.js';
import type { EventData } from './schemas.js';
import { isTraceparent } from './traceparent.js';
import { isEventType, PING_EVENT_TYPE } from './types.js';
import type { EventType } from './types.js';

export type ParsedEvent = {
  [T in EventType]: {
    type: T;
    source: string;
    id: string;
    subject?: string;
    time?: Date;
    data: EventData<T>;
    traceparent?: string;
  };
}[EventType];

/** A PingSource tick carries `spec.data` (our options, if any) and is a schedule trigger. */
export type ParsedMessage =
  { kind: 'ping'; id: string; data: unknown; traceparent?: string } | { kind: 'event'; event: ParsedEvent };

export interface EventRequest {
  /** Lower-case names, one value each. */
  headers: Record<string, string>;
  mediaType: string;
  body: string;
}

export function parseCloudEvent(request: EventRequest, mode: Mode): ParsedMessage {
  const { attributes, data } = mode === 'structured' ? readStructured(request) : readBinary(request);
  confirmWithSdk(request, mode);
  const traceparent = [attributes.traceparent, request.headers.traceparent].find(
    (candidate): candidate is string => typeof candidate === 'string' && isTraceparent(candidate),
  );
  const trace = traceparent === undefined ? {} : { traceparent };
  if (attributes.type === PING_EVENT_TYPE) return { kind: 'ping', id: attributes.id, data, ...trace };
  if (!isEventType(attributes.type)) {
    throw new Invalid('unknown CloudEvent type', [
      { field: attributeField(mode, 'type'), message: 'unknown event type' },
    ]);
  }
  const parsed = eventDataSchemas[attributes.type].safeParse(data);
  if (!parsed.success)
    throw invalidFrom(`invalid data for ${attributes.type}`, zodIssues(parsed.error, 'data', 'data'));
  const event = {
    type: attributes.type,
    source: attributes.source,
    id: attributes.id,
    data: parsed.data,
    ...(attributes.subject === undefined ? {} : { subject: attributes.subject }),
    ...(attributes.time === undefined ? {} : { time: new Date(attributes.time) }),
    ...trace,
  } as ParsedEvent;
  return { kind: 'event', event };
}

function readStructured(request: EventRequest): { attributes: Attributes; data: unknown } {
  if (request.body.trim() === '') {
    throw new Invalid('structured CloudEvent without a body', [
      { field: 'body', message: 'is empty (on OpenFaaS, set RAW_BODY=true for structured events)' },
    ]);
  }
  const envelope = parseJson(request.body, 'body');
  if (typeof envelope !== 'object' || envelope === null || Array.isArray(envelope)) {
    throw new Invalid('structured CloudEvent is not an object', [
      { field: 'body', message: 'must be one JSON object' },
    ]);
  }
  const fields = envelope as Record<string, unknown>;
  if ('data_base64' in fields) {
    throw new Invalid('binary event data is not accepted', [
      { field: 'data_base64', message: 'send JSON data instead' },
    ]);
  }
  const attributes = checkAttributes(fields, 'structured');
  requireJsonContent(attributes.datacontenttype, 'datacontenttype');
  return { attributes, data: fields.data };
}

function readBinary(request: EventRequest): { attributes: Attributes; data: unknown } {
  const raw: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (name.startsWith('ce-')) raw[name.slice(3)] = decodeAttribute(name, value);
  }
  const attributes = checkAttributes(raw, 'binary');
  if (request.body.trim() === '') return { attributes, data: undefined };
  // The OpenFaaS template turns a missing Content-Type into text/plain before we see it.
  if (request.mediaType !== 'text/plain') requireJsonContent(request.mediaType, 'content-type');
  return { attributes, data: parseJson(request.body, 'body') };
}

/** Attribute headers are percent-encoded by the sender (CloudEvents HTTP binding 3.1.3.2). */
function decodeAttribute(header: string, value: string): string {
  try {
    return decodeHeaderValue(value);
  } catch (err) {
    if (!(err instanceof BadHeaderValue)) throw err;
    throw new Invalid('invalid CloudEvent', [
      { field: attributeField('binary', header.slice(3)), message: err.message },
    ]);
  }
}

function checkAttributes(raw: Record<string, unknown>, mode: Mode): Attributes {
  const issues: InvalidIssue[] = checkAttributeNames(Object.keys(raw), mode);
  const parsed = attributeSchema.safeParse(raw);
  if (!parsed.success) {
    const named = zodIssues(parsed.error, '', 'event').map((issue) => ({
      ...issue,
      field: attributeField(mode, issue.field),
    }));
    issues.push(...named);
  }
  if (issues.length > 0 || !parsed.success) throw invalidFrom('invalid CloudEvent', issues);
  return parsed.data;
}

function requireJsonContent(mediaType: string | undefined, field: string): void {
  if (mediaType === undefined || mediaType === '') return;
  const base = mediaType.split(';')[0]?.trim().toLowerCase() ?? '';
  if (base === 'application/json' || base.endsWith('+json')) return;
  throw new Invalid('event data must be JSON', [{ field, message: 'must be application/json' }]);
}

/** The SDK parses the same message as a last check; its errors become Invalid too. */
function confirmWithSdk(request: EventRequest, mode: Mode): void {
  const headers = {
    ...request.headers,
    'content-type': mode === 'structured' ? 'application/cloudevents+json' : 'application/json',
  };
  try {
    const parsed = HTTP.toEvent({ headers, body: request.body });
    if (Array.isArray(parsed))
      throw new Invalid('batched CloudEvents are not accepted', [
        { field: 'content-type', message: 'batch mode is not accepted' },
      ]);
    (parsed as CloudEvent<unknown>).validate();
  } catch (err) {
    if (err instanceof Invalid) throw err;
    throw invalidFrom('invalid CloudEvent', sdkIssues(err, mode));
  }
}

export function parseJson(text: string, field: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    // V8's message quotes the input; report only where parsing stopped.
    const position = /position (\d+)/.exec(err instanceof Error ? err.message : '')?.[1];
    const where = position === undefined ? '' : ` (at position ${position})`;
    throw new Invalid('malformed JSON', [{ field, message: `is not valid JSON${where}` }]);
  }
}

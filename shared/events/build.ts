/*
 * The producing end: build a validated CloudEvent, and encode it for HTTP in binary mode (the
 * mode the node22 template parses without RAW_BODY and the one Knative Triggers deliver with
 * `delivery.format: binary`). Time is an argument; the SDK's own default `time` is never used.
 */
import { randomUUID } from 'node:crypto';
import { CloudEvent, HTTP } from 'cloudevents';
import type { CloudEventV1 } from 'cloudevents';
import { Invalid } from '../errors.js';
import type { FunctionName } from '../function-names.js';
import { invalidFrom, zodIssues } from '../issues.js';
import { encodeHeaderValue } from './header-value.js';
import { eventDataSchemas } from './schemas.js';
import type { EventData } from './schemas.js';
import { isTraceparent } from './traceparent.js';
import type { EventType } from './types.js';

export interface BuildOptions {
  /** `/devenv-lifecycle/<fn>` for our own events (see sourceFor). */
  source: string;
  /** The reservation or lab id the event is about. */
  subject: string;
  id?: string;
  time: Date;
  traceparent?: string;
}

/** A CloudEvent as stored and delivered: the SDK's plain v1 shape with our data. */
export type LifecycleEvent<T extends EventType = EventType> = CloudEventV1<EventData<T>> & { type: T };

export function sourceFor(fn: FunctionName): string {
  return `/devenv-lifecycle/${fn}`;
}

export function buildEvent<T extends EventType>(type: T, data: EventData<T>, options: BuildOptions): LifecycleEvent<T> {
  const parsed = eventDataSchemas[type].safeParse(data);
  if (!parsed.success) throw invalidFrom(`event ${type} has invalid data`, zodIssues(parsed.error, 'data', 'data'));
  if (options.subject === '')
    throw new Invalid('event subject is empty', [{ field: 'subject', message: 'must not be empty' }]);
  if (options.traceparent !== undefined && !isTraceparent(options.traceparent)) {
    throw new Invalid('traceparent is not a W3C trace context', [
      { field: 'traceparent', message: 'must be a W3C traceparent' },
    ]);
  }
  const event = new CloudEvent<EventData<T>>({
    specversion: '1.0',
    type,
    source: options.source,
    subject: options.subject,
    id: options.id ?? randomUUID(),
    time: options.time.toISOString(),
    datacontenttype: 'application/json',
    data: parsed.data as EventData<T>,
    ...(options.traceparent === undefined ? {} : { traceparent: options.traceparent }),
  });
  // The SDK's JSON form lists unset attributes as undefined; drop them so the stored and the
  // delivered shapes are the same plain JSON.
  const attributes = Object.entries(event.toJSON()).filter(([, value]) => value !== undefined);
  return Object.fromEntries(attributes) as LifecycleEvent<T>;
}

export interface BinaryMessage {
  headers: Record<string, string>;
  body: string;
}

/**
 * Binary-mode HTTP message. Attribute headers are percent-encoded (header-value.ts), so any id
 * the database holds can travel; a value with no UTF-8 form throws BadHeaderValue. The trace
 * context also goes in the plain `traceparent` header so the transport (Broker, gateway) joins
 * the same trace.
 */
export function toBinaryHttp(event: CloudEventV1<unknown>): BinaryMessage {
  const message = HTTP.binary(event);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers)) {
    if (value !== undefined) headers[name] = name.startsWith('ce-') ? encodeHeaderValue(String(value)) : String(value);
  }
  if (typeof event.traceparent === 'string' && isTraceparent(event.traceparent))
    headers.traceparent = event.traceparent;
  return { headers, body: typeof message.body === 'string' ? message.body : '' };
}

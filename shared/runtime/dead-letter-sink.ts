/*
 * The Knative dead-letter sink (POST /dead-letters on a function's service): an event the Broker
 * gave up on arrives here with the extensions `knativeerrordest` (the subscriber that failed),
 * `knativeerrorcode` (its last HTTP status) and `knativeerrordata` (its answer, base64). It is
 * kept in the outbox's dead-letter state, so the operator sees it where the outbox's own dead
 * letters are (`devenv-lifecycle runs`, the dead-letter gauge and alert) and requeues it the same
 * way: back to the Broker through K_SINK. Knative may send the same dead letter more than once;
 * it is recorded once per (source, id). The answer is 202 with no body, since a 2xx body would be
 * taken as a reply event.
 */
import { HTTP } from 'cloudevents';
import type { CloudEvent } from 'cloudevents';
import type { Db } from '../db/pool.js';
import { Invalid } from '../errors.js';
import type { InvalidIssue } from '../errors.js';
import type { Metrics } from './metrics.js';
import { answerError } from './problem.js';
import type { HttpAnswer } from './problem.js';
import { normalizeHeaders } from './request.js';
import type { RawRequest } from './request.js';

export const DEAD_LETTER_PATH = '/dead-letters';

export interface KnativeDeadLetter {
  id: string;
  source: string;
  type: string;
  subject?: string;
  data: unknown;
  traceparent?: string;
  error: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ERROR_TEXT_LIMIT = 500;

export function parseDeadLetter(request: RawRequest): KnativeDeadLetter {
  const headers = normalizeHeaders(request.headers);
  // The SDK takes any request for a CloudEvent 1.0; a dead letter must say it is one.
  if (
    headers['ce-specversion'] === undefined &&
    !/^application\/cloudevents\+json/i.test(headers['content-type'] ?? '')
  ) {
    throw new Invalid('not a CloudEvent', [
      { field: 'ce-specversion', message: 'a binary or structured CloudEvent is required' },
    ]);
  }
  let event: CloudEvent<unknown>;
  try {
    const parsed = HTTP.toEvent({ headers, body: request.rawBody.toString() });
    if (Array.isArray(parsed)) throw new Error('a batch is not a dead letter');
    event = parsed as CloudEvent<unknown>;
  } catch (err) {
    throw new Invalid('not a CloudEvent', [{ field: 'body', message: (err as Error).message.slice(0, 200) }], {
      cause: err,
    });
  }
  const issues: InvalidIssue[] = [];
  const text = (name: string): string | undefined => {
    const value: unknown = (event as unknown as Record<string, unknown>)[name];
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  if (!UUID.test(event.id ?? ''))
    issues.push({ field: 'id', message: 'must be a UUID (every producer on this Broker uses one)' });
  for (const name of ['source', 'type', 'knativeerrordest'])
    if (text(name) === undefined) issues.push({ field: name, message: 'required' });
  if (issues.length > 0) throw new Invalid('not a Knative dead letter', issues);
  return {
    id: event.id.toLowerCase(),
    source: text('source')!,
    type: text('type')!,
    ...(text('subject') === undefined ? {} : { subject: text('subject') }),
    ...(text('traceparent') === undefined ? {} : { traceparent: text('traceparent') }),
    data: event.data ?? null,
    error: errorText(text('knativeerrorcode'), text('knativeerrordest')!, text('knativeerrordata')),
  };
}

function errorText(code: string | undefined, dest: string, data: string | undefined): string {
  const answer = data === undefined ? '' : `: ${Buffer.from(data, 'base64').toString('utf8')}`;
  return `knative: ${code ?? 'no status'} from ${dest}${answer}`.slice(0, ERROR_TEXT_LIMIT);
}

/**
 * One statement: a pod event gets a new dead row; the product's own event turns its delivered
 * 'sink' row dead. A row already dead (a duplicate dead letter), one from another source, or one
 * still waiting in the outbox is left as it is. True when this call recorded it.
 */
export async function recordDeadLetter(db: Db, letter: KnativeDeadLetter, now: Date): Promise<boolean> {
  const result = await db.query(
    `insert into event_outbox (event_id, destination, type, source, subject, data, traceparent, created_at, available_at, dead_at, dead_reason, last_error)
     values ($1, 'sink', $2, $3, $4, $5::jsonb, $6, $7, $7, $7, 'knative', $8)
     on conflict (event_id, destination) do update
       set delivered_at = null, dead_at = excluded.dead_at, dead_reason = 'knative', last_error = excluded.last_error
       where event_outbox.dead_at is null and event_outbox.delivered_at is not null and event_outbox.source = excluded.source
     returning id`,
    [
      letter.id,
      letter.type,
      letter.source,
      letter.subject ?? null,
      JSON.stringify(letter.data),
      letter.traceparent ?? null,
      now,
      letter.error,
    ],
  );
  return (result.rowCount ?? 0) > 0;
}

export interface DeadLetterSinkDeps {
  db: Db;
  metrics: Metrics;
  now: () => Date;
}

export function deadLetterSink({ db, metrics, now }: DeadLetterSinkDeps): (request: RawRequest) => Promise<HttpAnswer> {
  return async (request) => {
    try {
      if (await recordDeadLetter(db, parseDeadLetter(request), now()))
        metrics.eventsDeadLettered.inc({ reason: 'knative' });
      return { status: 202, headers: {}, body: '' };
    } catch (err) {
      return answerError(err);
    }
  };
}

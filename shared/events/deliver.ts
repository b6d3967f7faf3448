/*
 * Send one event, binary mode, by HTTP POST, and believe only the status code: the SDK's
 * httpTransport resolves on a 500. Retryable answers follow Knative's
 * delivery spec (5xx, 408, 429 and network errors); any other 4xx is permanent, and so is an
 * event that cannot be written as an HTTP message: both throw Undeliverable.
 * Where to send is the outbox's concern (shared/events/outbox.ts): Knative -> the SinkBinding's
 * K_SINK (the Broker routes by type); OpenFaaS -> the gateway's /async-function/<fn> of every
 * consumer in the routing table.
 */
import type { CloudEventV1 } from 'cloudevents';
import { Invalid, Transient } from '../errors.js';
import { toBinaryHttp } from './build.js';
import type { BinaryMessage } from './build.js';

export interface DeliveryTarget {
  url: string;
}

export interface DeliverOptions {
  timeoutMs: number;
}

const RETRYABLE_4XX = new Set([408, 429]);

/** An event that no retry can deliver: refused for good by the receiver, or not writable as HTTP. */
export class Undeliverable extends Invalid {
  constructor(
    message: string,
    readonly reason: 'rejected' | 'unencodable',
    options?: ErrorOptions,
  ) {
    super(
      message,
      [
        {
          field: 'event',
          message: reason === 'rejected' ? 'rejected by the receiver' : 'cannot be written as an HTTP message',
        },
      ],
      options,
    );
  }
}

export async function deliver(
  event: CloudEventV1<unknown>,
  target: DeliveryTarget,
  options: DeliverOptions,
): Promise<void> {
  const message = encode(event);
  let response: Response;
  try {
    response = await fetch(target.url, {
      method: 'POST',
      headers: message.headers,
      body: message.body,
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  } catch (err) {
    throw new Transient(`event ${event.id} not delivered to ${target.url}: ${describe(err)}`, undefined, {
      cause: err,
    });
  }
  // Read the body so the connection is released; its text is not needed.
  await response.arrayBuffer().catch(() => undefined);
  if (response.ok) return;
  const what = `event ${event.id} refused by ${target.url} with HTTP ${response.status}`;
  if (response.status >= 500 || RETRYABLE_4XX.has(response.status)) throw new Transient(what, retryAfterMs(response));
  throw new Undeliverable(what, 'rejected');
}

function encode(event: CloudEventV1<unknown>): BinaryMessage {
  try {
    return toBinaryHttp(event);
  } catch (err) {
    throw new Undeliverable(`event ${event.id} cannot be written as an HTTP message: ${describe(err)}`, 'unencodable', {
      cause: err,
    });
  }
}

function retryAfterMs(response: Response): number | undefined {
  const seconds = Number(response.headers.get('retry-after'));
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined;
}

function describe(err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError') return 'timed out';
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : undefined;
  return cause ?? (err instanceof Error ? err.message : String(err));
}

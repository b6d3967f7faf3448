/*
 * Send one event, binary mode, by HTTP POST, and believe only the status code: the SDK's
 * httpTransport resolves on a 500. Retryable answers follow Knative's
 * delivery spec (5xx, 408, 429 and network errors); any other 4xx is permanent, and so is an
 * event that cannot be written as an HTTP message: both throw Undeliverable.
 * Where to send is the outbox's concern (shared/events/outbox.ts): Knative -> the SinkBinding's
 * K_SINK (the Broker routes by type); OpenFaaS -> the gateway's /async-function/<fn> of every
 * consumer in the routing table.
 * Sent with node:http rather than the global fetch: fetch's first use compiles undici's WebAssembly
 * HTTP parser, 13-30 MiB outside the V8 heap for the rest of the process, enough to put a run's
 * first delivery past a 128 MiB pod.
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
  let answer: Answer;
  try {
    answer = await post(target.url, message, options.timeoutMs);
  } catch (err) {
    throw new Transient(`event ${event.id} not delivered to ${target.url}: ${describe(err)}`, undefined, {
      cause: err,
    });
  }
  if (answer.status >= 200 && answer.status < 300) return;
  const what = `event ${event.id} refused by ${target.url} with HTTP ${answer.status}`;
  if (answer.status >= 500 || RETRYABLE_4XX.has(answer.status)) throw new Transient(what, retryAfterMs(answer));
  throw new Undeliverable(what, 'rejected');
}

interface Answer {
  status: number;
  retryAfter: string | undefined;
}

/** One POST; the answer's body is read to its end (so the kept-alive connection is reused) and dropped. */
async function post(url: string, message: BinaryMessage, timeoutMs: number): Promise<Answer> {
  const target = new URL(url);
  // Taken with getBuiltinModule, never imported: Node 22 builds an ES import's namespace from every
  // export, and node:http's WebSocket getter then loads undici, the parser the comment above avoids
  // (about 11 MiB). node:https (and TLS with it) is loaded only for an https sink.
  const send =
    target.protocol === 'http:'
      ? process.getBuiltinModule('node:http').request
      : target.protocol === 'https:'
        ? process.getBuiltinModule('node:https').request
        : undefined;
  if (!send) throw new Error(`unsupported URL scheme ${target.protocol}`);
  return new Promise((resolve, reject) => {
    const request = send(target, { method: 'POST', headers: message.headers, signal: AbortSignal.timeout(timeoutMs) });
    request.on('response', (response) => {
      const retryAfter = response.headers['retry-after'];
      response.on('error', reject);
      response.on('end', () => resolve({ status: response.statusCode ?? 0, retryAfter }));
      response.resume();
    });
    request.on('error', reject);
    request.end(message.body);
  });
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

function retryAfterMs(answer: Answer): number | undefined {
  const seconds = Number(answer.retryAfter);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined;
}

function describe(err: unknown): string {
  // An aborted request's error carries the signal's reason: a TimeoutError when the time ran out.
  if (
    err instanceof Error &&
    (err.name === 'TimeoutError' || (err.cause as Error | undefined)?.name === 'TimeoutError')
  )
    return 'timed out';
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : undefined;
  return cause ?? (err instanceof Error ? err.message : String(err));
}

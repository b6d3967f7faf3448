/*
 * Sending one pod-change event to every function that consumes it, as the OpenFaaS gateway
 * expects: a binary-mode CloudEvent POSTed to /async-function/<fn> for each consumer in the routing
 * table. Each consumer is tried a bounded number of times (5xx, 408, 429 and network errors are
 * retried with backoff; any other 4xx is final); one consumer's trouble never holds back another.
 */
import { coerceError } from '../shared/errors.js';
import { deliver } from '../shared/events/deliver.js';
import { consumersOf } from '../shared/events/routing.js';
import { withRetries } from '../shared/resilience.js';
import type { RetryPolicyOptions } from '../shared/resilience.js';
import type { FunctionName } from '../shared/runtime/invocation.js';
import type { PodChangeEvent } from './change.js';

export interface EmitOptions {
  gatewayUrl: string;
  retry: RetryPolicyOptions;
}

export interface ConsumerOutcome {
  consumer: FunctionName;
  /** Attempts made, the first included. */
  attempts: number;
  error?: string;
}

function asyncFunctionUrl(gatewayUrl: string, fn: FunctionName): string {
  return `${gatewayUrl.replace(/\/+$/, '')}/async-function/${fn}`;
}

export async function emitToConsumers(event: PodChangeEvent, options: EmitOptions): Promise<ConsumerOutcome[]> {
  return Promise.all(consumersOf(event.type).map((consumer) => emitTo(event, consumer, options)));
}

async function emitTo(event: PodChangeEvent, consumer: FunctionName, options: EmitOptions): Promise<ConsumerOutcome> {
  const url = asyncFunctionUrl(options.gatewayUrl, consumer);
  let attempts = 0;
  try {
    await withRetries(() => {
      attempts += 1;
      return deliver(event, { url }, { timeoutMs: options.retry.callTimeoutMs });
    }, options.retry);
    return { consumer, attempts };
  } catch (err) {
    return { consumer, attempts, error: coerceError(err).message };
  }
}

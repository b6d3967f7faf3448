/*
 * Retries, per-call timeouts and bounded fan-out for calls to other systems (Kubernetes, EC2,
 * Lambda). Built on cockatiel and p-limit so the subtle parts (jitter, abort propagation, queueing)
 * are library code, not ours.
 *
 * Only `Transient` errors are retried: adapters translate vendor errors first (DESIGN.md habit 6),
 * so a NotFound, Conflict, Invalid or Fatal surfaces at once instead of after a wasted backoff.
 */
import {
  DelegateBackoff,
  ExponentialBackoff,
  TaskCancelledError,
  TimeoutStrategy,
  handleWhen,
  retry,
  timeout,
  wrap,
} from 'cockatiel';
import type { IBackoff, IRetryBackoffContext } from 'cockatiel';
import pLimit from 'p-limit';
import { Transient, isTransient } from './errors.js';

/** How hard to try one logical call. All durations are milliseconds. */
export interface RetryPolicyOptions {
  /** Total attempts including the first; 1 means "never retry". */
  maxAttempts: number;
  /** Roughly the median first backoff; later ones grow exponentially, with decorrelated jitter. */
  initialDelayMs: number;
  /** Cap on any single backoff. A server asking for a longer pause (`retryAfterMs`) is not retried. */
  maxDelayMs: number;
  /** Budget for each attempt; on expiry its AbortSignal fires and the attempt counts as Transient. */
  callTimeoutMs: number;
}

type BackoffContext = IRetryBackoffContext<unknown>;

// cockatiel 3.2.1's own isTaskCancelledError checks the bulkhead marker, so it never matches a timeout.
function isTimeout(err: unknown): err is TaskCancelledError {
  return err instanceof TaskCancelledError;
}

function retryAfterMsOf(context: BackoffContext): number {
  const failure = context.result;
  return 'error' in failure && isTransient(failure.error) ? (failure.error.retryAfterMs ?? 0) : 0;
}

/** Jittered exponential backoff that never retries sooner than the server asked (`retryAfterMs`). */
function backoffHonouringRetryAfter(options: RetryPolicyOptions): DelegateBackoff<BackoffContext, IBackoff<unknown>> {
  const exponential = new ExponentialBackoff({ initialDelay: options.initialDelayMs, maxDelay: options.maxDelayMs });
  return new DelegateBackoff<BackoffContext, IBackoff<unknown>>((context, previous) => {
    const next = previous ? previous.next(context) : exponential.next();
    return { delay: Math.max(next.duration, retryAfterMsOf(context)), state: next };
  });
}

function isRetryable(options: RetryPolicyOptions): (err: Error) => boolean {
  // A timed-out attempt is retried like any Transient; it is converted to one when we give up.
  return (err) => isTimeout(err) || (isTransient(err) && (err.retryAfterMs ?? 0) <= options.maxDelayMs);
}

const minimums: Record<keyof RetryPolicyOptions, number> = {
  maxAttempts: 1,
  initialDelayMs: 0,
  maxDelayMs: 0,
  callTimeoutMs: 1,
};

function assertSensible(options: RetryPolicyOptions): void {
  for (const [name, minimum] of Object.entries(minimums) as [keyof RetryPolicyOptions, number][]) {
    const value = options[name];
    if (!Number.isFinite(value) || value < minimum) {
      throw new RangeError(`RetryPolicyOptions.${name} must be a finite number >= ${minimum}, got ${value}`);
    }
  }
}

/**
 * Runs `fn` with a per-attempt timeout, retrying `Transient` failures (and timeouts) with jittered
 * exponential backoff, at most `maxAttempts` times in total.
 *
 * `fn` receives an AbortSignal that fires when its attempt times out; pass it on to the client
 * (`client.send(cmd, { abortSignal })`) so the abandoned request is really cancelled.
 *
 * @throws the last `Transient` once attempts are exhausted; a timed-out last attempt throws a
 *   `Transient` whose `cause` is cockatiel's TaskCancelledError. Any other error is rethrown at once.
 * @example
 * const snapshots = await withRetries((signal) => ec2.describeSnapshotsByIds(ids, signal),
 *   { maxAttempts: 4, initialDelayMs: 200, maxDelayMs: 5_000, callTimeoutMs: 10_000 });
 */
export async function withRetries<T>(fn: (signal: AbortSignal) => Promise<T>, options: RetryPolicyOptions): Promise<T> {
  assertSensible(options);
  const policy = wrap(
    retry(handleWhen(isRetryable(options)), {
      maxAttempts: options.maxAttempts - 1, // cockatiel counts retries, not attempts
      backoff: backoffHonouringRetryAfter(options),
    }),
    timeout(options.callTimeoutMs, TimeoutStrategy.Aggressive),
  );
  try {
    // A parent signal of its own: without one, cockatiel hangs every call's listener on one shared
    // signal, and more than ten calls at once trip Node's MaxListenersExceededWarning.
    return await policy.execute(({ signal }) => fn(signal), new AbortController().signal);
  } catch (err) {
    if (isTimeout(err)) {
      throw new Transient(`call timed out after ${options.callTimeoutMs} ms`, undefined, { cause: err });
    }
    throw err;
  }
}

/**
 * Applies `fn` to every item with at most `limit` calls in flight. One failure never cancels the
 * others; results come back in input order as `PromiseSettledResult`s, so the caller decides what
 * a partial failure means (report it, count it, retry it next run).
 *
 * @example
 * const results = await mapWithConcurrency(pods, 8, (pod) => kube.deletePod(pod));
 * const failed = results.filter((r) => r.status === 'rejected');
 */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  if (!Number.isInteger(limit) || limit < 1)
    throw new RangeError(`concurrency limit must be an integer >= 1, got ${limit}`);
  const run = pLimit(limit);
  return Promise.allSettled(items.map((item, index) => run(() => fn(item, index))));
}

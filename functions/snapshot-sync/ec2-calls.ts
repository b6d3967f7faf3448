/*
 * What every snapshot-sync stage uses: its dependencies, and EC2 calls with retries. A read is
 * retried on Transient errors (throttling, 5xx, timeouts); CreateSnapshot only when EC2 refused it
 * outright, since a timeout may hide a success that the next run finds by its request token.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isThrottled } from '../../shared/aws/errors.js';
import type { Deps } from '../../shared/deps.js';
import { withRetries } from '../../shared/resilience.js';
import type { RetryPolicyOptions } from '../../shared/resilience.js';

export type SyncDeps = Pick<Deps, 'config' | 'pool' | 'ec2' | 'metrics' | 'run'>;

export const FN = 'snapshot-sync';

function retryPolicy(deps: SyncDeps): RetryPolicyOptions {
  return {
    maxAttempts: 3,
    initialDelayMs: 200,
    maxDelayMs: 2_000,
    callTimeoutMs: deps.config.aws.requestTimeoutMs + 1_000,
  };
}

/** One EC2 call, retried on Transient errors. */
export function ec2Call<T>(deps: SyncDeps, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  return withRetries(call, retryPolicy(deps));
}

/** An EC2 call that must not be repeated blindly (CreateSnapshot): retried only when throttled. */
export async function ec2CallOnce<T>(deps: SyncDeps, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const policy = retryPolicy(deps);
  for (let attempt = 1; ; attempt++) {
    try {
      return await withRetries(call, { ...policy, maxAttempts: 1 });
    } catch (err) {
      if (!isThrottled(err) || attempt >= policy.maxAttempts) throw err;
      await sleep(policy.initialDelayMs * 2 ** (attempt - 1));
    }
  }
}

/** How many EC2 calls a stage has in flight at once. */
export const fanOut = (deps: SyncDeps): number => deps.config.run.concurrency;

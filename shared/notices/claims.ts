/*
 * The notice machinery's rules, shared by every function that tells people something (warn's
 * warnings, oom-scan's kill notices): claim → send → mark → retry, set-based per batch.
 *
 * - A notice is CLAIMED in its ledger before it is sent (one statement for the batch), so runs at
 *   the same time never both send it; only the claims a run won are sent.
 * - It is MARKED after the send: sent, or failed with the error (released, so a later run retries
 *   it, a bounded number of times).
 * - A claim outlives any run that could still be sending it (the run budget plus one send's
 *   timeout: `claimLeaseSeconds`). Past that, the run that made it was killed between its send and
 *   its mark, and the channel decides what happens (SPEC 2.1):
 *   - the pod FILE is delivered again: writing the same file twice is harmless, dropping it is not
 *     (at least once, where the pod is still there);
 *   - the BROADCAST and the WEBHOOK are not sent again: a person must not get one twice (at most
 *     once). A redelivered file goes without its broadcast, and a webhook claim left behind is
 *     never taken over.
 */
import { mapWithConcurrency } from '../resilience.js';
import { coerceError } from '../errors.js';

/** How long a claim holds: no run starts a send after its budget, and the last ends within its timeout. */
export function claimLeaseSeconds(budgetSeconds: number, sendTimeoutMs: number): number {
  return budgetSeconds + Math.ceil(sendTimeoutMs / 1000);
}

/** The lease of a pod-file claim under a deployment's settings: the run budget plus one exec. */
export function podFileLeaseSeconds(settings: {
  run: { budgetSeconds: number };
  kube: { execTimeoutMs: number };
}): number {
  return claimLeaseSeconds(settings.run.budgetSeconds, settings.kube.execTimeoutMs);
}

/** A claim its run can no longer be working on: the run was killed between send and mark. */
export function isAbandoned(claimedAt: Date, now: Date, leaseSeconds: number): boolean {
  return claimedAt.getTime() < now.getTime() - leaseSeconds * 1000;
}

/** The claim step of a notice ledger: one statement for the batch, answering the notices won. */
export type ClaimNotices<N> = (notices: readonly N[]) => Promise<readonly N[]>;

export interface ClaimedSends<N, R> {
  /** The notices this run won and sent, each with its send's answer (in the order given). */
  sent: { notice: N; result: R }[];
  /** Held by another run (or already sent): not sent here. */
  claimedElsewhere: N[];
}

/**
 * Claim a batch, then send the claims won, `fanOut` at a time. A send that throws answers
 * `onError(error)`, so one bad notice never costs the others. Marking the outcomes is the
 * caller's (it writes them with its own decisions and events).
 */
export async function claimAndSend<N, R>(
  notices: readonly N[],
  claim: ClaimNotices<N>,
  send: (notice: N) => Promise<R>,
  options: { fanOut: number; onError: (error: string) => R },
): Promise<ClaimedSends<N, R>> {
  if (notices.length === 0) return { sent: [], claimedElsewhere: [] };
  const won = new Set(await claim(notices));
  const claimed = notices.filter((notice) => won.has(notice));
  const results = await mapWithConcurrency(claimed, options.fanOut, send);
  return {
    sent: claimed.map((notice, index) => {
      const result = results[index]!;
      return {
        notice,
        result: result.status === 'fulfilled' ? result.value : options.onError(coerceError(result.reason).message),
      };
    }),
    claimedElsewhere: notices.filter((notice) => !won.has(notice)),
  };
}

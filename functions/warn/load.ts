/*
 * warn's reads, all read-only: the reservations that owe a warning (one indexed query: deadline
 * within the largest level, the crossed level neither sent nor claimed), those whose claim a killed
 * run left behind (through the claims index), the ledger rows of their current deadlines, and the
 * webhook notices still owed; then what the cluster says about the candidates' pods
 * (shared/kube/pod-evidence). The SQL only gathers candidates; decide holds the level rule.
 */
import type pg from 'pg';
import type { Config } from '../../shared/config.js';
import { reservationsDueForWarning } from '../../shared/db/queries/reservations.js';
import { abandonedClaims, ledgerFor, pendingWebhooks } from '../../shared/db/queries/warnings.js';
import { podEvidence } from '../../shared/kube/pod-evidence.js';
import type { PodEvidence } from '../../shared/kube/pod-evidence.js';
import type { PodExec, PodReader } from '../../shared/kube/pods.js';
import { podFileLeaseSeconds } from '../../shared/notices/claims.js';
import type { KernelDeps, LoadInput } from '../../shared/runtime/define-function.js';
import type { BaseOptions } from '../../shared/runtime/invocation.js';
import type { Metrics } from '../../shared/runtime/metrics.js';
import type { DueReservation, WarnLoad } from './decide.js';

export interface WarnDeps extends KernelDeps {
  pool: pg.Pool;
  exec: PodExec;
  pods: PodReader;
  config: Config;
  metrics: Metrics;
}

// The most warnings one run takes up (1,000 fit in a run at 100 ms per exec); the rest, the least
// urgent, wait for the next run, a minute later.
const CANDIDATES = 2_000;
const OWED_WEBHOOKS = 50;
/** Posts of one webhook notice before it is given up (each counted and logged). */
export const WEBHOOK_MAX_ATTEMPTS = 10;

export async function loadWarn({ run, deps }: LoadInput<BaseOptions, WarnDeps>): Promise<WarnLoad> {
  const { policy, webhook } = deps.config;
  const now = run.now();
  const lease = podFileLeaseSeconds(deps.config);
  const [due, abandoned, webhooks] = await Promise.all([
    reservationsDueForWarning(deps.pool, now, policy.warningMinutes, CANDIDATES),
    abandonedClaims(deps.pool, now, lease, CANDIDATES),
    webhook ? pendingWebhooks(deps.pool, WEBHOOK_MAX_ATTEMPTS, OWED_WEBHOOKS) : Promise.resolve([]),
  ]);
  const reservations = unique(
    [...due, ...abandoned].map((row): DueReservation => ({
      reservationId: row.reservation_id,
      expiresAt: row.expires_at!,
      podName: row.pod_name,
      namespace: row.namespace ?? policy.reservationNamespace,
    })),
  );
  const [ledger, pods] = await Promise.all([
    ledgerFor(
      deps.pool,
      reservations.map(({ reservationId, expiresAt }) => ({ reservationId, expiresAt })),
    ),
    checkPods(deps, reservations),
  ]);
  return {
    pods,
    reservations,
    ledger: ledger.map((row) => ({
      reservationId: row.reservation_id,
      levelMinutes: row.level_minutes,
      state: row.state,
      claimedAt: row.claimed_at,
    })),
    webhooks: webhooks.map((row) => ({
      reservationId: row.reservation_id,
      expiresAt: row.expires_at,
      levelMinutes: row.level_minutes,
      minutesLeft: row.minutes_left ?? row.level_minutes,
    })),
    levelsMinutes: policy.warningMinutes,
    claimLeaseSeconds: lease,
  };
}

/** The pods of the candidates, under the shared evidence rules; warn also wants to know when the label points elsewhere. */
function checkPods(deps: WarnDeps, reservations: DueReservation[]): Promise<Map<string, PodEvidence>> {
  const targets = reservations.flatMap(({ reservationId, namespace, podName }) =>
    podName === null ? [] : [{ reservationId, namespace, podName }],
  );
  const options = {
    label: deps.config.policy.reservationLabel,
    concurrency: deps.config.warn.concurrency,
    withListedAs: true,
  };
  return podEvidence(deps.pods, targets, options);
}

function unique(rows: DueReservation[]): DueReservation[] {
  return [...new Map(rows.map((row) => [row.reservationId, row])).values()];
}

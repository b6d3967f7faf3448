/*
 * warn's shell: one indexed query for the reservations that owe a warning (deadline within the
 * largest level, the crossed level not yet in the ledger), one ledger query, decide, check that each
 * pod is the reservation's (label listing, pods.ts), then deliver with bounded concurrency. The ledger is written right after each delivery (sent, or failed with
 * the error), with the reservation.warned event; deliveries that finish together share one
 * transaction (group commit).
 */
import type pg from 'pg';
import type { Config } from '../../shared/config.js';
import { reservationsDueForWarning } from '../../shared/db/queries/reservations.js';
import { recordWarnings, sentLevels } from '../../shared/db/queries/warnings.js';
import { withTransaction } from '../../shared/db/transaction.js';
import { buildEvent, sourceFor } from '../../shared/events/build.js';
import { EventTypes } from '../../shared/events/types.js';
import type { PodExec, PodReader } from '../../shared/pods.js';
import { mapWithConcurrency } from '../../shared/resilience.js';
import type { Metrics } from '../../shared/runtime/metrics.js';
import type { RunReport, RunScope } from '../../shared/runtime/run-scope.js';
import { decide } from './decide.js';
import type { WarnAction } from './decide.js';
import { deliverWarning } from './deliver.js';
import type { Delivery } from './deliver.js';
import { groupCommit } from './group-commit.js';
import { podVerdicts } from './pods.js';
import type { PodVerdict } from './pods.js';
import { sendPendingWebhooks } from './webhook.js';

export interface WarnDeps {
  pool: pg.Pool;
  exec: PodExec;
  pods: PodReader;
  config: Config;
  metrics: Metrics;
}

export async function warnRun(scope: RunScope, deps: WarnDeps): Promise<RunReport> {
  const { policy } = deps.config;
  const now = scope.now();
  const due = await reservationsDueForWarning(deps.pool, now, policy.warningMinutes, Math.max(scope.maxItems * 4, 100));
  const sent = await sentLevels(deps.pool, due.map((row) => ({ reservationId: row.reservation_id, expiresAt: row.expires_at! })));
  const decision = decide({
    now,
    reservations: due.map((row) => ({ reservationId: row.reservation_id, expiresAt: row.expires_at!, podName: row.pod_name, namespace: row.namespace ?? policy.reservationNamespace })),
    sentLevels: sent,
    levelsMinutes: policy.warningMinutes,
    maxItems: scope.maxItems,
  });
  const summary: Record<string, number> = { warned: 0, warn_failed: 0, skipped_no_pod: decision.skipped.length, pod_missing: 0, pod_mismatch: 0, deferred: decision.deferred };
  if (scope.dryRun) {
    const items = decision.warnings.map((w) => ({ reservationId: w.reservationId, level: w.levelMinutes, minutesLeft: w.minutesLeft }));
    return { summary: { ...summary, would_warn: decision.warnings.length }, failures: [], items };
  }
  const verdicts = await podVerdicts(deps.pods, policy.reservationLabel, decision.warnings, deps.config.run.concurrency);
  // Past the run's time budget, the remaining warnings wait for the next run (a minute later).
  const record = groupCommit((delivered: Delivered[]) => recordDeliveries(scope, deps, delivered));
  const results = await mapWithConcurrency(decision.warnings, deps.config.run.concurrency, async (action) =>
    scope.now() < scope.deadline ? deliverAndRecord(scope, deps, { action, verdict: verdicts.get(action.reservationId)! }, record) : DEFERRED,
  );
  const failures = results.flatMap((result, index) => outcomeOf(result, decision.warnings[index]!, summary));
  if (deps.config.webhook) {
    const webhooks = await sendPendingWebhooks(deps.pool, deps.config.webhook, 50);
    Object.assign(summary, { webhook_sent: webhooks.sent, webhook_failed: webhooks.failed });
  }
  return { summary, failures };
}

interface Delivered {
  action: WarnAction;
  delivery: Delivery;
}

async function deliverAndRecord(scope: RunScope, deps: WarnDeps, target: { action: WarnAction; verdict: PodVerdict }, record: (delivered: Delivered) => Promise<void>): Promise<Delivery> {
  const { action, verdict } = target;
  if (verdict.kind === 'pod_missing' || verdict.kind === 'pod_mismatch') return { delivered: false, broadcast: false, skipped: verdict.kind };
  const delivery = verdict.kind === 'unknown'
    ? { delivered: false, broadcast: false, error: verdict.error }
    : await deliverWarning(deps.exec, deps.config.policy.mainContainer, action, scope.now());
  if (delivery.skipped) return delivery;
  await record({ action, delivery });
  deps.metrics.actions.inc({ function: 'warn', kind: 'warn', outcome: delivery.delivered ? 'done' : 'failed' });
  if (delivery.delivered) deps.metrics.warningsSent.inc({ level: String(action.levelMinutes) });
  return delivery;
}

/** One transaction for the deliveries that finished together: their ledger rows and their events. */
async function recordDeliveries(scope: RunScope, deps: WarnDeps, delivered: Delivered[]): Promise<void> {
  const webhook = deps.config.webhook !== undefined;
  const outcomes = delivered.map(({ action, delivery }) => ({
    reservationId: action.reservationId, expiresAt: action.expiresAt, levelMinutes: action.levelMinutes, minutesLeft: action.minutesLeft,
    delivered: delivery.delivered, error: delivery.error, webhook, action,
  }));
  await withTransaction(deps.pool, async (client) => {
    const recorded = await recordWarnings(client, outcomes, scope.now());
    const events = recorded.flatMap((outcome) => (outcome.delivered ? [warnedEvent(outcome.action, scope.now())] : []));
    if (events.length > 0) await scope.stage(client, events);
  });
}

const DEFERRED = 'deferred' as const;

function outcomeOf(result: PromiseSettledResult<Delivery | typeof DEFERRED>, action: WarnAction, summary: Record<string, number>): string[] {
  const value = result.status === 'fulfilled' ? result.value : undefined;
  if (value === DEFERRED || value?.skipped) {
    const key = value === DEFERRED ? 'deferred' : value.skipped!;
    summary[key] = (summary[key] ?? 0) + 1;
    return [];
  }
  const delivered = value?.delivered === true;
  const key = delivered ? 'warned' : 'warn_failed';
  summary[key] = (summary[key] ?? 0) + 1;
  if (delivered) return [];
  const error = result.status === 'rejected' ? String(result.reason) : value?.error;
  return [`warn ${action.reservationId} (${action.levelMinutes} min): ${error}`];
}

function warnedEvent(action: WarnAction, now: Date) {
  return buildEvent(EventTypes.reservationWarned, {
    reservationId: action.reservationId,
    podName: action.podName,
    namespace: action.namespace,
    expiresAt: action.expiresAt.toISOString(),
    levelMinutes: action.levelMinutes,
    minutesLeft: action.minutesLeft,
    warnedAt: now.toISOString(),
  }, { source: sourceFor('warn'), subject: action.reservationId, time: now });
}

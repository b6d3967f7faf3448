/*
 * warn's shell: settle the claims of runs that died mid-delivery; one indexed query for the
 * reservations that owe a warning (deadline within the largest level, the crossed level neither
 * sent nor claimed); one ledger query; decide; check that each pod is the reservation's (pods.ts);
 * claim the levels in the ledger (only a won claim is delivered: a level goes out at most once,
 * even across overlapping or killed runs); deliver with one exec per warning at WARN_CONCURRENCY;
 * record each outcome (sent, or failed and retried next run) with its reservation.warned event,
 * WARN_CONCURRENCY outcomes per transaction, so the statements of a run depend on its work alone.
 */
import type pg from 'pg';
import { actionLinks } from '../../shared/actions/links.js';
import type { ActionLink } from '../../shared/actions/links.js';
import type { Config } from '../../shared/config.js';
import { reservationsDueForWarning } from '../../shared/db/queries/reservations.js';
import { claimWarnings, recordWarnings, sentLevels, settleAbandonedClaims } from '../../shared/db/queries/warnings.js';
import { withTransaction } from '../../shared/db/transaction.js';
import { buildEvent, sourceFor } from '../../shared/events/build.js';
import { EventTypes } from '../../shared/events/types.js';
import type { PodExec, PodReader } from '../../shared/kube/pods.js';
import { mapWithConcurrency } from '../../shared/resilience.js';
import type { Metrics } from '../../shared/runtime/metrics.js';
import type { RunReport, RunScope } from '../../shared/runtime/run-scope.js';
import { decide } from './decide.js';
import type { WarnAction } from './decide.js';
import { deliverWarning } from './deliver.js';
import type { Delivery } from './deliver.js';
import { batchWriter } from './batch.js';
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
  const settled = scope.dryRun ? 0 : await settleClaims(scope, deps);
  const due = await reservationsDueForWarning(deps.pool, now, policy.warningMinutes, Math.max(scope.maxItems * 4, 100));
  const sent = await sentLevels(deps.pool, due.map((row) => ({ reservationId: row.reservation_id, expiresAt: row.expires_at! })));
  const decision = decide({
    now,
    reservations: due.map((row) => ({ reservationId: row.reservation_id, expiresAt: row.expires_at!, podName: row.pod_name, namespace: row.namespace ?? policy.reservationNamespace })),
    sentLevels: sent,
    levelsMinutes: policy.warningMinutes,
    maxItems: scope.maxItems,
  });
  const summary: Record<string, number> = { warned: 0, warn_failed: 0, skipped_no_pod: decision.skipped.length, pod_missing: 0, pod_mismatch: 0, claimed_elsewhere: 0, claims_settled: settled, deferred: decision.deferred };
  if (scope.dryRun) {
    const items = decision.warnings.map((w) => ({ reservationId: w.reservationId, level: w.levelMinutes, minutesLeft: w.minutesLeft }));
    return { summary: { ...summary, would_warn: decision.warnings.length }, failures: [], items };
  }
  const targets = await claimTargets(scope, deps, decision.warnings);
  const results = await deliverAll(scope, deps, targets);
  const failures = results.flatMap((result, index) => outcomeOf(result, targets[index]!.action, summary));
  if (deps.config.webhook) {
    const webhooks = await sendPendingWebhooks(deps.pool, { webhook: deps.config.webhook, actions: deps.config.actions, now: scope.now(), limit: 50 });
    Object.assign(summary, { webhook_sent: webhooks.sent, webhook_failed: webhooks.failed });
  }
  return { summary, failures };
}

type Verdict = PodVerdict | { kind: 'claimed_elsewhere' };

interface Target {
  action: WarnAction;
  verdict: Verdict;
}

/** Check the pods, then claim in the ledger the warnings that can go: only the claims won are delivered. */
async function claimTargets(scope: RunScope, deps: WarnDeps, warnings: WarnAction[]): Promise<Target[]> {
  const verdicts = await podVerdicts(deps.pods, deps.config.policy.reservationLabel, warnings, deps.config.warn.concurrency);
  const deliverable = warnings.filter((w) => verdicts.get(w.reservationId)!.kind === 'deliver');
  const won = new Set((await claimWarnings(deps.pool, deliverable, scope.now())).map((w) => w.reservationId));
  return warnings.map((action) => {
    const verdict = verdicts.get(action.reservationId)!;
    return { action, verdict: verdict.kind === 'deliver' && !won.has(action.reservationId) ? { kind: 'claimed_elsewhere' } : verdict };
  });
}

/** Settle the claims of runs that died mid-delivery as sent, each with its reservation.warned event. */
async function settleClaims(scope: RunScope, deps: WarnDeps): Promise<number> {
  // A claim must not outlive any run that could still be delivering it: the run budget plus one exec.
  const leaseSeconds = deps.config.run.budgetSeconds + Math.ceil(deps.config.kube.execTimeoutMs / 1000);
  const namespace = deps.config.policy.reservationNamespace;
  return withTransaction(deps.pool, async (client) => {
    const settled = await settleAbandonedClaims(client, scope.now(), leaseSeconds, deps.config.webhook !== undefined);
    const events = settled.flatMap((row) => (row.pod_name ? [warnedEvent({
      reservationId: row.reservation_id, podName: row.pod_name, namespace: row.namespace ?? namespace,
      expiresAt: row.expires_at, levelMinutes: row.level_minutes, minutesLeft: row.minutes_left,
    }, scope.now())] : []));
    if (events.length > 0) await scope.stage(client, events);
    return settled.length;
  });
}

interface Delivered {
  action: WarnAction;
  delivery: Delivery;
}

type Outcome = Delivery | typeof DEFERRED;

/**
 * Deliver at WARN_CONCURRENCY, recording outcomes in batches of that size as they finish. Past the
 * run's time budget, the remaining warnings wait for the next run (a minute later).
 */
async function deliverAll(scope: RunScope, deps: WarnDeps, targets: Target[]): Promise<PromiseSettledResult<Outcome>[]> {
  const fanOut = deps.config.warn.concurrency;
  const record = batchWriter(fanOut, (delivered: Delivered[]) => recordDeliveries(scope, deps, delivered));
  const attempts = await mapWithConcurrency(targets, fanOut, async (target) => {
    const { outcome, toRecord } = scope.now() < scope.deadline ? await deliverOne(deps, scope.now(), target) : deferOne(target);
    // Not awaited here: a batch fills only as later deliveries finish, and the last one at the flush.
    const recorded = toRecord && record.add(toRecord);
    recorded?.catch(() => undefined);
    return { outcome, recorded };
  });
  record.flush();
  return Promise.all(attempts.map(async (attempt, index): Promise<PromiseSettledResult<Outcome>> => {
    if (attempt.status === 'rejected') return attempt;
    const { outcome, recorded: written } = attempt.value;
    try {
      await written;
    } catch (reason) {
      return { status: 'rejected', reason };
    }
    if (outcome !== DEFERRED && !outcome.skipped) countDelivery(deps, targets[index]!.action, outcome);
    return { status: 'fulfilled', value: outcome };
  }));
}

async function deliverOne(deps: WarnDeps, now: Date, target: Target): Promise<{ outcome: Outcome; toRecord?: Delivered }> {
  const { action, verdict } = target;
  if (verdict.kind !== 'deliver' && verdict.kind !== 'unknown') return { outcome: { delivered: false, broadcast: false, skipped: verdict.kind } };
  const delivery = verdict.kind === 'unknown'
    ? { delivered: false, broadcast: false, error: verdict.error }
    : await deliverWarning(deps.exec, deps.config.policy.mainContainer, action, now, await linksFor(deps, action, now));
  // A pod gone since it was checked: the claim is released as failed, retried if the pod returns.
  return { outcome: delivery, toRecord: { action, delivery: delivery.skipped ? { ...delivery, error: 'the pod was gone when the warning was sent' } : delivery } };
}

/** The warning's action links; a warning without them still goes out (they are an extra, not the message). */
function linksFor(deps: WarnDeps, action: WarnAction, now: Date): Promise<ActionLink[]> {
  return actionLinks(deps.config.actions, { reservationId: action.reservationId, deadline: action.expiresAt, now }).catch(() => []);
}

/** Past the budget: a claim already won is released (as failed) so the next run takes it up. */
function deferOne(target: Target): { outcome: Outcome; toRecord?: Delivered } {
  if (target.verdict.kind !== 'deliver') return { outcome: DEFERRED };
  return { outcome: DEFERRED, toRecord: { action: target.action, delivery: { delivered: false, broadcast: false, error: "not delivered: the run's time budget was spent" } } };
}

function countDelivery(deps: WarnDeps, action: WarnAction, delivery: Delivery): void {
  deps.metrics.actions.inc({ function: 'warn', kind: 'warn', outcome: delivery.delivered ? 'done' : 'failed' });
  if (delivery.delivered) deps.metrics.warningsSent.inc({ level: String(action.levelMinutes) });
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

function outcomeOf(result: PromiseSettledResult<Outcome>, action: WarnAction, summary: Record<string, number>): string[] {
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

function warnedEvent(action: Pick<WarnAction, 'reservationId' | 'podName' | 'namespace' | 'expiresAt' | 'levelMinutes' | 'minutesLeft'>, now: Date) {
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

/*
 * cleanup-pod's shell: start teardowns for ended reservations (from an event, or the sweep that
 * catches lost events), lease the due ones, and advance each as far as the evidence allows in this
 * run. Progress is saved after every step, so a run may stop anywhere and the next one continues.
 */
import type pg from 'pg';
import type { LambdaApi } from '../../shared/aws/lambda.js';
import type { Config } from '../../shared/config.js';
import { claimTeardowns, dueTeardowns, releaseDisks, releaseTeardownLease, saveStep, startTeardowns, stillHoldsDisk } from '../../shared/db/queries/cleanup.js';
import type { TeardownRow } from '../../shared/db/queries/cleanup.js';
import { appendDecisions } from '../../shared/db/queries/decisions.js';
import { withTransaction } from '../../shared/db/transaction.js';
import { buildEvent, sourceFor } from '../../shared/events/build.js';
import type { LifecycleEvent } from '../../shared/events/build.js';
import type { LeftAlone } from '../../shared/labelled-resources.js';
import { EventTypes } from '../../shared/events/types.js';
import { coerceError } from '../../shared/errors.js';
import { stableUuid } from '../../shared/ids.js';
import { mapWithConcurrency } from '../../shared/resilience.js';
import type { Metrics } from '../../shared/runtime/metrics.js';
import type { RunReport, RunScope } from '../../shared/runtime/run-scope.js';
import { advance } from './decide.js';
import type { Step, TeardownPolicy, Transition } from './decide.js';
import { leftAloneDecisions } from './left-alone.js';
import { observe, targetOf } from './steps.js';
import type { Observed, StepDeps, Target } from './steps.js';

export interface CleanupDeps extends Omit<StepDeps, 'reservationLabel' | 'defaultNamespace' | 'podDeleteGraceSeconds'> {
  pool: pg.Pool;
  lambda: LambdaApi;
  config: Config;
  metrics: Metrics;
}

/** A wait past the configured bound is retried this often: alerting, without a retry every 30 s. */
const ESCALATED_RETRY_DELAY_SECONDS = 600;
const LEASE_SECONDS = 120;
const SWEEP_DAYS = 7;

export async function cleanupRun(scope: RunScope, deps: CleanupDeps, reservationIds?: string[]): Promise<RunReport> {
  const now = scope.now();
  if (scope.dryRun) {
    const due = await dueTeardowns(deps.pool, now, SWEEP_DAYS, scope.maxItems, reservationIds);
    return { summary: { would_advance: due.length }, failures: [], items: due.map((d) => ({ reservationId: d.reservation_id, step: d.step })) };
  }
  const started = await startTeardowns(deps.pool, reservationIds ?? 'sweep', now, SWEEP_DAYS);
  const rows = await claimTeardowns(deps.pool, { owner: scope.runId, now, leaseSeconds: LEASE_SECONDS, limit: scope.maxItems, reservationIds });
  const summary: Record<string, number> = { started, claimed: rows.length, resources_deleted: 0, pods_gone: 0, cleaned: 0, disks_released: 0, retrying: 0, deferred: 0 };
  const failures: string[] = [];
  // Teardowns are independent; bounded concurrency keeps a sweep of hundreds within the run's
  // budget (the origin tore down one at a time, A-6) without flooding the API server or EC2.
  await mapWithConcurrency(rows, deps.config.run.concurrency, async (row) => {
    try {
      if (scope.now() < scope.deadline) return await advanceTeardown(scope, deps, row, summary);
      summary.deferred = (summary.deferred ?? 0) + 1;
      await releaseTeardownLease(deps.pool, row.reservation_id, scope.runId);
    } catch (err) {
      failures.push(`teardown ${row.reservation_id}: ${coerceError(err).message}`);
    }
  });
  await notifyAvailability(deps, summary, failures);
  return { summary, failures };
}

async function advanceTeardown(scope: RunScope, deps: CleanupDeps, row: TeardownRow, summary: Record<string, number>): Promise<void> {
  const stepDeps = toStepDeps(deps);
  const target = targetOf(row, stepDeps);
  let step = row.step as Step;
  let enteredAt = row.updated_at;
  // What this run already left alone: recorded once, and a pod judged not the reservation's is not read again.
  const leftAlone = new Set<string>();
  while (step !== 'done') {
    const secondsInStep = (scope.now().getTime() - enteredAt.getTime()) / 1000;
    const observed = await observe(step, target, stepDeps, { secondsInStep, podLeftAlone: leftAlone.has(`pod/${target.podName}`) });
    const transition = advance(observed.observation, policyOf(deps.config), secondsInStep);
    await recordLeftAlone(scope, deps, target, observed.leftAlone.filter((object) => !leftAlone.has(`${object.kind}/${object.name}`)));
    for (const object of observed.leftAlone) leftAlone.add(`${object.kind}/${object.name}`);
    const next = await apply(scope, deps, { row, target, step, observed }, transition, summary);
    if (next === step) return;
    if (step === 'delete_resources') summary.resources_deleted = (summary.resources_deleted ?? 0) + 1;
    if (step === 'await_gone') summary.pods_gone = (summary.pods_gone ?? 0) + 1;
    step = next;
    enteredAt = scope.now();
  }
  summary.cleaned = (summary.cleaned ?? 0) + 1;
}

interface StepContext {
  row: TeardownRow;
  target: Target;
  step: Step;
  observed: Observed;
}

/** Save the transition (and its events) as the lease holder; returns the step now current. */
async function apply(scope: RunScope, deps: CleanupDeps, context: StepContext, transition: Transition, summary: Record<string, number>): Promise<Step> {
  const { row, target, step } = context;
  if (transition.kind === 'retry') return retry(scope, deps, context, transition, summary);
  const now = scope.now();
  const to: Step = transition.kind === 'restart' ? 'delete_resources' : transition.to;
  let reason = transition.reason;
  await withTransaction(deps.pool, async (client) => {
    const events: LifecycleEvent[] = [];
    if (transition.kind === 'advance' && transition.snapshot) {
      // The holder is read again under a row lock: a disk that moved since the claim is not snapshotted here.
      if (await stillHoldsDisk(client, { reservationId: row.reservation_id, userId: row.user_id, diskName: row.disk_name })) events.push(podCleaned(row, target, now));
      else reason = 'the disk moved off this reservation before the snapshot request: no snapshot for this reservation';
    }
    if (step === 'release_disk') {
      const released = await releaseDisks(client, row.reservation_id, now);
      summary.disks_released = (summary.disks_released ?? 0) + released.length;
      events.push(...released.map((disk) => diskReleased(row, disk, now)));
    }
    const saved = await saveStep(client, { reservationId: row.reservation_id, owner: scope.runId, step: to, now, nextAttemptAt: now, failedAttempt: transition.kind === 'restart', releaseLease: false });
    if (!saved) throw new Error('lease lost to another runner');
    await scope.stage(client, events);
    await appendDecisions(client, [{ runId: scope.runId, fn: 'cleanup-pod', entityKind: 'reservation', entityId: row.reservation_id, action: `${step}->${to}`, reason, outcome: 'applied' }], now);
  });
  // A verification that found leftovers is counted apart, so an alert can tell it from success.
  deps.metrics.actions.inc({ function: 'cleanup-pod', kind: step, outcome: transition.kind === 'restart' ? 'leftovers' : 'done' });
  return to;
}

/**
 * A wait or failure: keep the step and try again later. A grace-0 delete names the uid read in
 * this same step, so it can only hit the pod that was judged the reservation's and stuck.
 */
async function retry(scope: RunScope, deps: CleanupDeps, context: StepContext, transition: Extract<Transition, { kind: 'retry' }>, summary: Record<string, number>): Promise<Step> {
  const { row, target, step, observed } = context;
  const now = scope.now();
  let reason = transition.reason;
  if (transition.forceDeletePod && target.podName && observed.podUid) {
    const forced = await deps.resources.forceDeletePod(target.namespace, target.podName, observed.podUid).catch((err: unknown) => `failed: ${coerceError(err).message}`);
    reason = `${reason} (${forced})`;
  }
  await saveStep(deps.pool, { reservationId: row.reservation_id, owner: scope.runId, step, now, nextAttemptAt: new Date(now.getTime() + transition.delaySeconds * 1000), error: reason, failedAttempt: true, releaseLease: true });
  summary.retrying = (summary.retrying ?? 0) + 1;
  deps.metrics.actions.inc({ function: 'cleanup-pod', kind: step, outcome: transition.escalated ? 'escalated' : 'retry' });
  if (transition.escalated) {
    summary.escalated = (summary.escalated ?? 0) + 1;
    await appendDecisions(deps.pool, [{ runId: scope.runId, fn: 'cleanup-pod', entityKind: 'reservation', entityId: row.reservation_id, action: `${step}:escalated`, reason, outcome: 'failed' }], now);
  }
  return step;
}

/** Objects under the reservation's names that are not its own: counted and logged, never touched. */
async function recordLeftAlone(scope: RunScope, deps: CleanupDeps, target: Target, objects: LeftAlone[]): Promise<void> {
  if (objects.length === 0) return;
  for (const object of objects) deps.metrics.foreignObjects.inc({ function: 'cleanup-pod', kind: object.kind, owner: object.owner });
  await appendDecisions(deps.pool, leftAloneDecisions(target, objects, scope.runId), scope.now());
}

function podCleaned(row: TeardownRow, target: Target, now: Date) {
  return buildEvent(EventTypes.podCleaned, {
    reservationId: row.reservation_id, userId: row.user_id, podName: row.pod_name, namespace: target.namespace,
    diskName: row.disk_name, volumeId: row.ebs_volume_id, cleanedAt: now.toISOString(),
  }, { source: sourceFor('cleanup-pod'), subject: row.reservation_id, time: now, id: stableUuid(`${row.reservation_id}:pod.cleaned`) });
}

function diskReleased(row: TeardownRow, disk: { user_id: string; disk_name: string; ebs_volume_id: string | null }, now: Date) {
  return buildEvent(EventTypes.diskReleased, {
    reservationId: row.reservation_id, userId: disk.user_id, diskName: disk.disk_name, volumeId: disk.ebs_volume_id, releasedAt: now.toISOString(),
  }, { source: sourceFor('cleanup-pod'), subject: row.reservation_id, time: now });
}

/**
 * The availability updater, once per run (not once per pod, as the origin did), and only when
 * capacity really changed: a pod confirmed gone (its GPUs are free) or a disk released. A pod that
 * is still terminating frees nothing yet, so a delete alone does not count.
 */
async function notifyAvailability(deps: CleanupDeps, summary: Record<string, number>, failures: string[]): Promise<void> {
  const name = deps.config.aws.availabilityUpdaterFunctionName;
  if (!name || ((summary.pods_gone ?? 0) === 0 && (summary.disks_released ?? 0) === 0)) return;
  try {
    await deps.lambda.invokeAsync(name, {});
    summary.availability_updates = 1;
  } catch (err) {
    failures.push(`availability updater ${name}: ${coerceError(err).message}`);
  }
}

function toStepDeps(deps: CleanupDeps): StepDeps {
  const { policy } = deps.config;
  return { ...deps, reservationLabel: policy.reservationLabel, defaultNamespace: policy.reservationNamespace, podDeleteGraceSeconds: policy.podDeleteGraceSeconds };
}

function policyOf(config: Config): TeardownPolicy {
  return {
    stuckTerminatingSeconds: 300,
    retryDelaySeconds: 30,
    escalateAfterSeconds: config.policy.teardownEscalateMinutes * 60,
    escalatedRetryDelaySeconds: ESCALATED_RETRY_DELAY_SECONDS,
  };
}

/*
 * cleanup-pod's shell: start teardowns for ended reservations (from an event, or the sweep that
 * catches lost events), lease the due ones, and advance them step by step as far as the evidence
 * allows in this run. The sweep moves its teardowns through one step at a time, 50 together, so
 * reads are shared (one listing per kind for the 50, one DescribeVolumes) and each group's
 * outcomes are saved in one commit. Progress is saved after every step, so a run may stop
 * anywhere and the next one continues.
 */
import type pg from 'pg';
import type { LambdaApi } from '../../shared/aws/lambda.js';
import type { Config } from '../../shared/config.js';
import { claimTeardowns, dueTeardowns, releaseTeardownLeases, startTeardowns } from '../../shared/db/queries/cleanup.js';
import type { TeardownRow } from '../../shared/db/queries/cleanup.js';
import { coerceError } from '../../shared/errors.js';
import type { Metrics } from '../../shared/runtime/metrics.js';
import type { RunReport, RunScope } from '../../shared/runtime/run-scope.js';
import { commitOutcomes } from './commit.js';
import type { Outcome } from './commit.js';
import { advance } from './decide.js';
import type { Step, TeardownPolicy, Transition } from './decide.js';
import { leftAloneDecisions } from './left-alone.js';
import { observeAll, targetOf } from './steps.js';
import type { Observed, StepDeps, StepState, Target } from './steps.js';

export interface CleanupDeps extends Omit<StepDeps, 'reservationLabel' | 'defaultNamespace' | 'podDeleteGraceSeconds' | 'concurrency'> {
  pool: pg.Pool;
  lambda: LambdaApi;
  config: Config;
  metrics: Metrics;
}

/** A wait past the configured bound is retried this often: alerting, without a retry every 30 s. */
const ESCALATED_RETRY_DELAY_SECONDS = 600;
const LEASE_SECONDS = 120;
const SWEEP_DAYS = 7;
const ORDER: Step[] = ['delete_resources', 'await_gone', 'await_detach', 'request_snapshot', 'release_disk', 'verify'];
/**
 * Teardowns advanced together through one step: one labelled listing's worth (one DescribeVolumes
 * call's for the detach wait). No group starts after 80% of the run's budget, so a large sweep
 * ends inside its budget and the rest waits for the next run.
 */
const groupSize = (step: Step) => (step === 'await_detach' ? 200 : 50);
const STOP_AT_BUDGET_FRACTION = 0.8;
/** A verification that finds leftovers starts over; a run goes round at most this often. */
const MAX_ROUNDS = 3;

/** One leased teardown as this run carries it from step to step. */
interface Teardown {
  row: TeardownRow;
  target: Target;
  step: Step;
  enteredAt: Date;
  /** Objects this run already left alone: recorded once; a pod judged not ours is not read again. */
  leftAlone: Set<string>;
  justDeleted: boolean;
  /** Saved as waiting, done, or failed: this run does nothing more with it. */
  settled: boolean;
}

type Summary = Record<string, number>;

export async function cleanupRun(scope: RunScope, deps: CleanupDeps, reservationIds?: string[]): Promise<RunReport> {
  const now = scope.now();
  if (scope.dryRun) {
    const due = await dueTeardowns(deps.pool, now, SWEEP_DAYS, scope.maxItems, reservationIds);
    return { summary: { would_advance: due.length }, failures: [], items: due.map((d) => ({ reservationId: d.reservation_id, step: d.step })) };
  }
  const started = await startTeardowns(deps.pool, reservationIds ?? 'sweep', now, SWEEP_DAYS);
  const rows = await claimTeardowns(deps.pool, { owner: scope.runId, now, leaseSeconds: LEASE_SECONDS, limit: scope.maxItems, reservationIds });
  const summary: Summary = { started, claimed: rows.length, resources_deleted: 0, pods_gone: 0, cleaned: 0, disks_released: 0, retrying: 0, deferred: 0 };
  const failures: string[] = [];
  const stepDeps = toStepDeps(deps);
  const teardowns: Teardown[] = rows.map((row) => ({ row, target: targetOf(row, stepDeps), step: row.step as Step, enteredAt: row.updated_at, leftAlone: new Set(), justDeleted: false, settled: false }));
  const stopAt = now.getTime() + (scope.deadline.getTime() - now.getTime()) * STOP_AT_BUDGET_FRACTION;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    let moved = false;
    for (const step of ORDER) {
      const batch = teardowns.filter((t) => !t.settled && t.step === step);
      for (let i = 0; i < batch.length && scope.now().getTime() < stopAt; i += groupSize(step)) {
        moved = (await advanceStep(scope, deps, stepDeps, step, batch.slice(i, i + groupSize(step)), summary, failures)) || moved;
      }
    }
    if (!moved) break;
  }
  const unsettled = teardowns.filter((t) => !t.settled && t.step !== 'done');
  summary.deferred = unsettled.length;
  await releaseTeardownLeases(deps.pool, unsettled.map((t) => t.row.reservation_id), scope.runId)
    .catch((err: unknown) => failures.push(`releasing leases: ${coerceError(err).message}`));
  await notifyAvailability(deps, summary, failures);
  return { summary, failures };
}

/** Observe, decide and save one step for every teardown at it; true if any moved on. */
async function advanceStep(scope: RunScope, deps: CleanupDeps, stepDeps: StepDeps, step: Step, batch: Teardown[], summary: Summary, failures: string[]): Promise<boolean> {
  const states: StepState[] = batch.map((t) => ({
    target: t.target, secondsInStep: secondsSince(scope, t.enteredAt), podLeftAlone: t.leftAlone.has(`pod/${t.target.podName}`), justDeleted: t.justDeleted,
  }));
  let observed: Observed[];
  try {
    observed = await observeAll(step, states, stepDeps);
  } catch (err) {
    for (const t of batch) t.settled = true;
    failures.push(...batch.map((t) => `teardown ${t.row.reservation_id}: ${coerceError(err).message}`));
    return false;
  }
  const outcomes = await Promise.all(batch.map((t, i) => outcomeOf(scope, deps, t, observed[i]!, states[i]!.secondsInStep)));
  const committed = await commitOutcomes(scope, deps.pool, outcomes);
  failures.push(...committed.failures);
  summary.disks_released = (summary.disks_released ?? 0) + committed.disksReleased;
  let moved = false;
  outcomes.forEach((outcome, i) => {
    const t = batch[i]!;
    for (const object of observed[i]!.leftAlone) t.leftAlone.add(`${object.kind}/${object.name}`);
    if (!committed.saved.has(t.row.reservation_id)) return void (t.settled = true);
    count(deps, summary, outcome);
    t.justDeleted = step === 'delete_resources' && outcome.transition.kind === 'advance' && observed[i]!.podsTerminating === true;
    if (outcome.transition.kind === 'retry' || outcome.to === 'done') t.settled = true;
    if (outcome.to !== step) {
      t.step = outcome.to;
      t.enteredAt = scope.now();
      moved = true;
    }
  });
  return moved;
}

/**
 * The decision for one teardown, and the objects it left alone. A grace-0 delete (before the
 * commit: no transaction waits on the network) names the uid read in this same step, so it can
 * only hit the pod that was judged the reservation's and stuck.
 */
async function outcomeOf(scope: RunScope, deps: CleanupDeps, t: Teardown, observed: Observed, secondsInStep: number): Promise<Outcome> {
  const transition = advance(observed.observation, policyOf(deps.config), secondsInStep);
  const now = scope.now();
  let reason = transition.reason;
  if (transition.kind === 'retry' && transition.forceDeletePod && t.target.podName && observed.podUid) {
    const forced = await deps.resources.forceDeletePod(t.target.namespace, t.target.podName, observed.podUid).catch((err: unknown) => `failed: ${coerceError(err).message}`);
    reason = `${reason} (${forced})`;
  }
  const fresh = observed.leftAlone.filter((object) => !t.leftAlone.has(`${object.kind}/${object.name}`));
  for (const object of fresh) deps.metrics.foreignObjects.inc({ function: 'cleanup-pod', kind: object.kind, owner: object.owner });
  return {
    row: t.row, target: t.target, step: t.step, transition, reason,
    to: nextStep(t.step, transition),
    nextAttemptAt: transition.kind === 'retry' ? new Date(now.getTime() + transition.delaySeconds * 1000) : now,
    decisions: leftAloneDecisions(t.target, fresh, scope.runId),
  };
}

function nextStep(step: Step, transition: Transition): Step {
  if (transition.kind === 'retry') return step;
  return transition.kind === 'restart' ? 'delete_resources' : transition.to;
}

function count(deps: CleanupDeps, summary: Summary, { step, transition }: Outcome): void {
  const add = (key: string) => { summary[key] = (summary[key] ?? 0) + 1; };
  if (transition.kind === 'retry') {
    add('retrying');
    if (transition.escalated) add('escalated');
    deps.metrics.actions.inc({ function: 'cleanup-pod', kind: step, outcome: transition.escalated ? 'escalated' : 'retry' });
    return;
  }
  if (step === 'delete_resources') add('resources_deleted');
  if (step === 'await_gone') add('pods_gone');
  if (transition.kind === 'advance' && transition.to === 'done') add('cleaned');
  // A verification that found leftovers is counted apart, so an alert can tell it from success.
  deps.metrics.actions.inc({ function: 'cleanup-pod', kind: step, outcome: transition.kind === 'restart' ? 'leftovers' : 'done' });
}

const secondsSince = (scope: RunScope, at: Date) => (scope.now().getTime() - at.getTime()) / 1000;

/**
 * The availability updater, once per run (not once per pod, as the origin did), and only when
 * capacity really changed: a pod confirmed gone (its GPUs are free) or a disk released. A pod that
 * is still terminating frees nothing yet, so a delete alone does not count.
 */
async function notifyAvailability(deps: CleanupDeps, summary: Summary, failures: string[]): Promise<void> {
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
  return {
    ...deps, reservationLabel: policy.reservationLabel, defaultNamespace: policy.reservationNamespace,
    podDeleteGraceSeconds: policy.podDeleteGraceSeconds, concurrency: deps.config.run.concurrency,
  };
}

function policyOf(config: Config): TeardownPolicy {
  return {
    stuckTerminatingSeconds: 300,
    retryDelaySeconds: 30,
    escalateAfterSeconds: config.policy.teardownEscalateMinutes * 60,
    escalatedRetryDelaySeconds: ESCALATED_RETRY_DELAY_SECONDS,
  };
}

/*
 * cleanup-pod's executor, set-based: the run's teardowns as one sweep. Its first commit starts the
 * teardowns (the upkeep's and the fresh ones among the actions) and leases the actions' teardowns
 * — for an event run the CloudEvent's inbox record goes with it, so an event is consumed exactly
 * when its teardown has started. Then the pipeline carries the leased teardowns as far as the
 * evidence allows, the leases of those it did not settle are given back, and the availability
 * updater is called once if capacity really changed. A teardown another runner holds, or that is
 * no longer due, is skipped: whoever holds it carries it on.
 */
import { claimTeardowns, releaseTeardownLeases, startTeardowns } from '../../shared/db/queries/cleanup.js';
import type { Config } from '../../shared/config.js';
import { coerceError } from '../../shared/errors.js';
import type { ActionResult } from '../../shared/runtime/execute.js';
import { groupPace } from '../../shared/runtime/groups.js';
import type { Run } from '../../shared/runtime/run.js';
import type { StartTeardown, TeardownAction, TeardownPolicy } from './decide.js';
import type { CleanupDeps } from './load.js';
import { advanceTeardowns } from './pipeline.js';
import type { Teardown } from './pipeline.js';
import { targetOf } from './steps.js';
import type { StepDeps } from './steps.js';
import type { Step } from './types.js';

/** Teardowns in one sweep: enough that one DescribeVolumes call serves 200 of them. */
export const SWEEP_SIZE = 1000;
/** Long enough for a run to carry its teardowns, so another runner does not take them meanwhile. */
const LEASE_SECONDS = 120;
/** A wait past the configured bound is retried this often: alerting, without a retry every 30 s. */
const ESCALATED_RETRY_DELAY_SECONDS = 600;

export async function executeTeardowns(
  run: Run,
  actions: TeardownAction[],
  deps: CleanupDeps,
  upkeep: readonly StartTeardown[],
): Promise<ActionResult[]> {
  const now = run.now();
  const ids = actions.map((action) => action.reservationId);
  const claimed = await run.commit(async (db) => {
    const started = await startTeardowns(
      db,
      [...new Set([...upkeep.map((start) => start.reservationId), ...ids])],
      now,
    );
    const rows =
      ids.length === 0
        ? []
        : await claimTeardowns(db, {
            owner: run.scope.runId,
            now,
            leaseSeconds: LEASE_SECONDS,
            limit: ids.length,
            reservationIds: ids,
          });
    return { value: { started, rows } };
  });
  const stepDeps = toStepDeps(deps);
  const teardowns: Teardown[] = claimed.rows.map((row) => ({
    row,
    target: targetOf(row, stepDeps),
    step: row.step as Step,
    enteredAt: row.updated_at,
    leftAlone: new Set(),
    justDeleted: false,
    settled: false,
    tally: [],
  }));
  await advanceTeardowns(
    { run, deps, stepDeps, policy: policyOf(deps.config), pace: groupPace(run, deps.run.clock) },
    teardowns,
  );
  const unsettled = teardowns.filter((t) => !t.settled && t.step !== 'done');
  const runFailures: string[] = [];
  await releaseTeardownLeases(
    deps.pool,
    unsettled.map((t) => t.row.reservation_id),
    run.scope.runId,
  ).catch((err: unknown) => runFailures.push(`releasing leases: ${coerceError(err).message}`));
  const updated = await notifyAvailability(deps, teardowns, runFailures);
  const started = new Set(claimed.started);
  const byId = new Map(teardowns.map((t) => [t.row.reservation_id, t]));
  // What belongs to the run rather than one teardown rides on the first result.
  const runTally = [
    ...claimed.started.filter((id) => !ids.includes(id)).map(() => 'started'),
    ...(updated ? ['availability_updates'] : []),
  ];
  return actions.map((action, index): ActionResult => {
    const t = byId.get(action.reservationId);
    const failure = [t?.failure, ...(index === 0 ? runFailures : [])].filter((part) => part !== undefined).join('; ');
    const counted = [
      ...(started.has(action.reservationId) ? ['started'] : []),
      ...(index === 0 ? runTally : []),
      ...(t ? ['claimed', ...t.tally] : []),
    ];
    return {
      outcome: !t ? 'skipped' : failure ? 'failed' : 'applied',
      counters: counted,
      metrics: [],
      ...(t && !t.settled && t.step !== 'done' ? { unfinished: true as const } : {}),
      ...(failure ? { failure } : {}),
    };
  });
}

/**
 * The availability updater, once per sweep (not once per pod, as the origin did), and only when
 * capacity really changed: a pod confirmed gone (its GPUs are free) or a disk released. A pod that
 * is still terminating frees nothing yet, so a delete alone does not count.
 */
async function notifyAvailability(deps: CleanupDeps, teardowns: Teardown[], failures: string[]): Promise<boolean> {
  const name = deps.config.aws.availabilityUpdaterFunctionName;
  if (!name || !teardowns.some((t) => t.tally.includes('pods_gone') || t.tally.includes('disks_released')))
    return false;
  try {
    await deps.lambda.invokeAsync(name, {});
    return true;
  } catch (err) {
    failures.push(`availability updater ${name}: ${coerceError(err).message}`);
    return false;
  }
}

function toStepDeps(deps: CleanupDeps): StepDeps {
  const { policy } = deps.config;
  return {
    resources: deps.resources,
    ec2: deps.ec2,
    reservationLabel: policy.reservationLabel,
    defaultNamespace: policy.reservationNamespace,
    podDeleteGraceSeconds: policy.podDeleteGraceSeconds,
    concurrency: deps.config.run.concurrency,
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

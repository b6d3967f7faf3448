/*
 * ending-watchdog's executor: claim the lab with a committed lease, tear down without holding any
 * lock, verify, then a compare-and-set final write with its event and decision. Ambiguous evidence
 * never reaches a terminal state: the lab stays ENDING and the attempt is counted.
 */
import { claimLabs, finishLab, recordUnknownAttempt } from '../../shared/db/queries/labs.js';
import { buildEvent, sourceFor } from '../../shared/events/build.js';
import { EventTypes } from '../../shared/events/types.js';
import { coerceError } from '../../shared/errors.js';
import type { NamedResources } from '../../shared/kube/labelled-resources.js';
import type { ActionResult, Executors } from '../../shared/runtime/execute.js';
import type { Run } from '../../shared/runtime/run.js';
import { ageMinutes, unknownAttemptsAlert, verdict } from './decide.js';
import type { EndingLab, LabAction, TeardownEvidence, Verdict, WatchdogAction } from './decide.js';
import type { WatchdogDeps } from './load.js';

export const watchdogExecutors: Executors<LabAction, WatchdogDeps> = { force: processLab, fail: processLab };

async function processLab(run: Run, action: LabAction, deps: WatchdogDeps): Promise<ActionResult> {
  const { lab } = action;
  const claimed = await run.commit(async (db) => ({
    value: (await claimLabs(db, [lab.id], run.scope.runId, run.now(), deps.config.policy.labLeaseSeconds)).length === 1,
  }));
  // Another run holds the lease, or the lab left ENDING since it was read: nothing to do here.
  if (!claimed) return { outcome: 'skipped', metrics: [] };
  run.log.info(
    { labId: lab.id, ownerId: lab.ownerId, ageMinutes: ageMinutes(lab, run.now()), action: action.kind },
    'processing lab',
  );
  const evidence =
    action.kind === 'force' ? await teardown(deps.resources, lab, deps.config.policy.labLabel) : undefined;
  const outcome = verdict(action.kind, evidence);
  if (outcome.status === 'unknown') return recordUnknown(run, deps, action, outcome);
  return recordFinal(run, deps, action, outcome);
}

/**
 * Ambiguous evidence: no terminal state. The lab stays ENDING, the attempt is counted durably and
 * the lease released for a later run; from the configured number of attempts on, each one also
 * raises the alert (metric outcome `unknown_alert`, decision `<action>:unknown-alert`).
 */
async function recordUnknown(
  run: Run,
  deps: WatchdogDeps,
  action: LabAction,
  outcome: Verdict & { status: 'unknown' },
): Promise<ActionResult> {
  const threshold = deps.config.policy.watchdogUnknownAttemptsAlert;
  const attempts = await run.commit(async (db) => {
    const counted = await recordUnknownAttempt(db, {
      id: action.lab.id,
      owner: run.scope.runId,
      now: run.now(),
      error: outcome.reason.slice(0, 1000),
    });
    const raise = counted !== undefined && unknownAttemptsAlert(counted, threshold);
    const decision = {
      entityKind: 'lab' as const,
      entityId: action.lab.id,
      action: `${action.kind}:${raise ? 'unknown-alert' : 'unknown'}`,
      reason: `${outcome.reason} (unknown attempt ${counted ?? '?'}, alert at ${threshold}); the lab stays ENDING`,
      inputs: { ...action.inputs, attempts: counted ?? null },
      outcome: counted === undefined ? ('conflict' as const) : ('skipped' as const),
    };
    return { value: counted, decisions: [decision] };
  });
  const alert = attempts !== undefined && unknownAttemptsAlert(attempts, threshold);
  if (alert)
    run.log.error(
      { labId: action.lab.id, attempts, reason: outcome.reason },
      'lab teardown unverified after repeated attempts; it stays ENDING',
    );
  return {
    outcome: 'unknown',
    counters: ['claimed', attempts === undefined ? 'conflicts' : 'unknown', ...(alert ? ['unknown_alerts'] : [])],
    metrics: [attempts === undefined ? 'conflict' : 'unknown', ...(alert ? ['unknown_alert'] : [])],
    failure: `stays ENDING, retried later: ${outcome.reason}`,
  };
}

type FinalVerdict = Exclude<Verdict, { status: 'unknown' }>;

async function recordFinal(
  run: Run,
  deps: WatchdogDeps,
  action: LabAction,
  outcome: FinalVerdict,
): Promise<ActionResult> {
  const now = run.now();
  const evidenceExpiresAt =
    outcome.status === 'finished'
      ? new Date(now.getTime() + deps.config.policy.evidenceRetentionHours * 3_600_000)
      : undefined;
  const finished = await run.commit(async (db) => {
    const row = await finishLab(db, {
      id: action.lab.id,
      owner: run.scope.runId,
      status: outcome.status,
      now,
      evidenceExpiresAt,
    });
    const reason =
      outcome.status === 'failed' ? outcome.reason : 'teardown verified: nothing labelled with the lab remains';
    const decision = {
      entityKind: 'lab' as const,
      entityId: action.lab.id,
      action: `${action.kind}:${outcome.status}`,
      reason,
      inputs: action.inputs,
      outcome: row ? ('applied' as const) : ('conflict' as const),
    };
    return {
      value: row !== undefined,
      decisions: [decision],
      events: row ? [labEvent(action.lab, action.kind, outcome, now, evidenceExpiresAt)] : [],
    };
  });
  if (!finished) return { outcome: 'conflict', counters: ['claimed', 'conflicts'], metrics: ['conflict'] };
  return { outcome: 'applied', counters: ['claimed', outcome.status], metrics: [outcome.status] };
}

/**
 * Delete what provably belongs to the lab (its label, each object deleted with its uid as a
 * precondition), then list what is left. The ownership rule is shared with cleanup-pod; lab ids are
 * uuids (labs.id), so they always travel in the label selector.
 */
async function teardown(resources: NamedResources, lab: EndingLab, labLabel: string): Promise<TeardownEvidence> {
  const owner = { key: labLabel, id: lab.id };
  const deleted = await resources
    .deleteOwned(lab.namespace, owner, {}, 0)
    .catch((err: unknown) => ({ errors: [coerceError(err).message] }));
  try {
    const remaining = await resources.listOwned(lab.namespace, owner, {});
    return { deletesSucceeded: deleted.errors.length === 0, remaining, errors: deleted.errors };
  } catch (err) {
    return {
      deletesSucceeded: deleted.errors.length === 0,
      remaining: null,
      errors: [...deleted.errors, coerceError(err).message],
    };
  }
}

function labEvent(lab: EndingLab, action: WatchdogAction, outcome: FinalVerdict, now: Date, evidenceExpiresAt?: Date) {
  const base = { labId: lab.id, endingSince: lab.endingSince?.toISOString() ?? null, finishedAt: now.toISOString() };
  const options = { source: sourceFor('ending-watchdog'), subject: lab.id, time: now };
  if (outcome.status === 'finished') {
    return buildEvent(
      EventTypes.labFinished,
      { ...base, action: 'force', evidenceExpiresAt: evidenceExpiresAt!.toISOString() },
      options,
    );
  }
  return buildEvent(EventTypes.labFailed, { ...base, action, reason: outcome.reason.slice(0, 1000) }, options);
}

/*
 * ending-watchdog's set-based executor, a batch of labs at a time: claim them all with one
 * committed lease, tear down without holding any lock (per namespace, one labelled listing per
 * kind for the whole batch, then the deletes, then one verifying listing per kind), then one
 * commit holding every final state and every unknown attempt (each a compare-and-set on ENDING and
 * the lease), with their decisions and events. Ambiguous evidence never reaches a terminal state:
 * the lab stays ENDING and the attempt is counted. A batch whose commit throws is split and
 * retried by the kernel; the retry takes back its own lease and tears down again (idempotent).
 */
import { claimLabs, finishLabs, recordUnknownAttempts } from '../../shared/db/queries/labs.js';
import { buildEvent, sourceFor } from '../../shared/events/build.js';
import { EventTypes } from '../../shared/events/types.js';
import type { ActionResult } from '../../shared/runtime/execute.js';
import type { DecisionEntry, Run } from '../../shared/runtime/run.js';
import type { LifecycleEvent } from '../../shared/events/build.js';
import { ageMinutes, unknownAttemptsAlert, verdict } from './decide.js';
import type { EndingLab, LabAction, Verdict, WatchdogAction } from './decide.js';
import type { WatchdogDeps } from './load.js';
import { teardownLabs } from './teardown.js';

/*
 * Labs per batch: the owners one labelled listing covers (shared/kube/owned-resources.ts), so a
 * batch costs one listing per kind and namespace to delete and one to verify, two commits, and
 * the deletes themselves.
 */
export const BATCH_SIZE = 50;

// Another run holds the lease, or the lab left ENDING since it was read: nothing to do here.
const NOT_CLAIMED: ActionResult = { outcome: 'skipped', metrics: [] };

type FinalVerdict = Exclude<Verdict, { status: 'unknown' }>;
type UnknownVerdict = Verdict & { status: 'unknown' };

interface Judged {
  action: LabAction;
  outcome: Verdict;
}

/** Results in the order of `actions`; throws (the kernel splits and retries) when a commit fails. */
export async function executeWatchdog(run: Run, actions: LabAction[], deps: WatchdogDeps): Promise<ActionResult[]> {
  const claimed = await claim(run, deps, actions);
  const taken = actions.filter((action) => claimed.has(action.lab.id));
  if (taken.length === 0) return actions.map(() => NOT_CLAIMED);
  for (const action of taken)
    run.log.info(
      {
        labId: action.lab.id,
        ownerId: action.lab.ownerId,
        ageMinutes: ageMinutes(action.lab, run.now()),
        action: action.kind,
      },
      'processing lab',
    );
  const forced = taken.filter((action) => action.kind === 'force').map((action) => action.lab);
  const evidence = await teardownLabs(deps.resources, forced, deps.config.policy.labLabel, deps.config.run.concurrency);
  const judged = taken.map((action): Judged => ({
    action,
    outcome: verdict(action.kind, evidence.get(action.lab.id)),
  }));
  const results = await record(run, deps, judged);
  return actions.map((action) => results.get(action.lab.id) ?? NOT_CLAIMED);
}

async function claim(run: Run, deps: WatchdogDeps, actions: LabAction[]): Promise<Set<string>> {
  const ids = actions.map((action) => action.lab.id);
  const lease = deps.config.policy.labLeaseSeconds;
  return new Set(
    await run.commit(async (db) => ({ value: await claimLabs(db, ids, run.scope.runId, run.now(), lease) })),
  );
}

/** One commit for the whole batch: final states, unknown attempts, their decisions and events. */
async function record(run: Run, deps: WatchdogDeps, judged: Judged[]): Promise<Map<string, ActionResult>> {
  const now = run.now();
  const owner = run.scope.runId;
  const evidenceExpiresAt = new Date(now.getTime() + deps.config.policy.evidenceRetentionHours * 3_600_000);
  const finals = judged.filter(
    (entry): entry is Judged & { outcome: FinalVerdict } => entry.outcome.status !== 'unknown',
  );
  const unknowns = judged.filter(
    (entry): entry is Judged & { outcome: UnknownVerdict } => entry.outcome.status === 'unknown',
  );
  const threshold = deps.config.policy.watchdogUnknownAttemptsAlert;
  const results = await run.commit(async (db) => {
    const written = await finishLabs(
      db,
      owner,
      now,
      finals.map(({ action, outcome }) => ({
        id: action.lab.id,
        status: outcome.status,
        ...(outcome.status === 'finished' && { evidenceExpiresAt }),
      })),
    );
    const attempts = await recordUnknownAttempts(
      db,
      owner,
      now,
      unknowns.map(({ action, outcome }) => ({ id: action.lab.id, error: outcome.reason.slice(0, 1000) })),
    );
    const finished = new Set(written.map((row) => row.id));
    const settled = [
      ...finals.map((entry) => settleFinal(entry, finished.has(entry.action.lab.id), now, evidenceExpiresAt)),
      ...unknowns.map((entry) => settleUnknown(entry, attempts.get(entry.action.lab.id), threshold)),
    ];
    return {
      value: new Map(settled.map((entry) => [entry.labId, entry])),
      decisions: settled.map((entry) => entry.decision),
      events: settled.flatMap((entry) => entry.events),
    };
  });
  for (const entry of results.values())
    if (entry.alert) run.log.error(entry.alert, 'lab teardown unverified after repeated attempts; it stays ENDING');
  return new Map([...results].map(([labId, entry]) => [labId, entry.result]));
}

interface Settled {
  labId: string;
  result: ActionResult;
  decision: DecisionEntry;
  events: LifecycleEvent[];
  alert?: { labId: string; attempts: number; reason: string };
}

/** A final state written (applied, with its event) or refused by the compare-and-set (a conflict). */
function settleFinal(
  { action, outcome }: Judged & { outcome: FinalVerdict },
  written: boolean,
  now: Date,
  evidenceExpiresAt: Date,
): Settled {
  const reason =
    outcome.status === 'failed' ? outcome.reason : 'teardown verified: nothing labelled with the lab remains';
  return {
    labId: action.lab.id,
    decision: {
      entityKind: 'lab',
      entityId: action.lab.id,
      action: `${action.kind}:${outcome.status}`,
      reason,
      inputs: action.inputs,
      outcome: written ? 'applied' : 'conflict',
    },
    events: written ? [labEvent(action.lab, action.kind, outcome, now, evidenceExpiresAt)] : [],
    result: written
      ? { outcome: 'applied', counters: ['claimed', outcome.status], metrics: [outcome.status] }
      : { outcome: 'conflict', counters: ['claimed', 'conflicts'], metrics: ['conflict'] },
  };
}

/**
 * Ambiguous evidence: no terminal state. The lab stays ENDING, the attempt is counted durably and
 * the lease released for a later run; from the configured number of attempts on, each one also
 * raises the alert (metric outcome `unknown_alert`, decision `<action>:unknown-alert`).
 * `attempts` is undefined when the lease was lost meanwhile (a conflict).
 */
function settleUnknown(
  { action, outcome }: Judged & { outcome: UnknownVerdict },
  attempts: number | undefined,
  threshold: number,
): Settled {
  const raise = attempts !== undefined && unknownAttemptsAlert(attempts, threshold);
  return {
    labId: action.lab.id,
    decision: {
      entityKind: 'lab',
      entityId: action.lab.id,
      action: `${action.kind}:${raise ? 'unknown-alert' : 'unknown'}`,
      reason: `${outcome.reason} (unknown attempt ${attempts ?? '?'}, alert at ${threshold}); the lab stays ENDING`,
      inputs: { ...action.inputs, attempts: attempts ?? null },
      outcome: attempts === undefined ? 'conflict' : 'skipped',
    },
    events: [],
    result: {
      outcome: 'unknown',
      counters: ['claimed', attempts === undefined ? 'conflicts' : 'unknown', ...(raise ? ['unknown_alerts'] : [])],
      metrics: [attempts === undefined ? 'conflict' : 'unknown', ...(raise ? ['unknown_alert'] : [])],
      failure: `stays ENDING, retried later: ${outcome.reason}`,
    },
    ...(raise && { alert: { labId: action.lab.id, attempts, reason: outcome.reason } }),
  };
}

function labEvent(lab: EndingLab, action: WatchdogAction, outcome: FinalVerdict, now: Date, evidenceExpiresAt: Date) {
  const base = { labId: lab.id, endingSince: lab.endingSince?.toISOString() ?? null, finishedAt: now.toISOString() };
  const options = { source: sourceFor('ending-watchdog'), subject: lab.id, time: now };
  if (outcome.status === 'finished') {
    return buildEvent(
      EventTypes.labFinished,
      { ...base, action: 'force', evidenceExpiresAt: evidenceExpiresAt.toISOString() },
      options,
    );
  }
  return buildEvent(EventTypes.labFailed, { ...base, action, reason: outcome.reason.slice(0, 1000) }, options);
}

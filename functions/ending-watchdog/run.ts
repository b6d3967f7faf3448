/*
 * ending-watchdog's shell: select, claim with a committed lease (dry runs take none), tear down
 * without holding any lock, verify, then a compare-and-set final write with its event and decision.
 */
import type pg from 'pg';
import type { Config } from '../../shared/config.js';
import { appendDecisions } from '../../shared/db/queries/decisions.js';
import { claimLabs, endingLabs, finishLab, recordUnknownAttempt, releaseClaim } from '../../shared/db/queries/labs.js';
import type { LabRow } from '../../shared/db/queries/labs.js';
import { withTransaction } from '../../shared/db/transaction.js';
import { buildEvent, sourceFor } from '../../shared/events/build.js';
import { EventTypes } from '../../shared/events/types.js';
import { coerceError } from '../../shared/errors.js';
import type { NamedResources } from '../../shared/labelled-resources.js';
import { maskOwner } from '../../shared/log.js';
import type { Metrics } from '../../shared/runtime/metrics.js';
import type { RunReport, RunScope } from '../../shared/runtime/run-scope.js';
import { ageMinutes, selectLabs, unknownAttemptsAlert, verdict } from './decide.js';
import type { EndingLab, TeardownEvidence, Verdict, WatchdogAction } from './decide.js';
import type { WatchdogOptions } from './options.js';

export interface WatchdogDeps {
  pool: pg.Pool;
  resources: NamedResources;
  config: Config;
  metrics: Metrics;
}

export async function watchdogRun(scope: RunScope, deps: WatchdogDeps, options: WatchdogOptions): Promise<RunReport> {
  const { policy } = deps.config;
  const now = scope.now();
  const action: WatchdogAction = options.action ?? policy.watchdogAction;
  const selection = {
    olderThanMinutes: options.olderThanMinutes ?? policy.watchdogOlderThanMinutes,
    maxLabs: Math.min(options.maxLabs ?? policy.watchdogMaxLabs, scope.maxItems),
    labId: options.labId,
  };
  const rows = await endingLabs(deps.pool, { labId: selection.labId, olderThan: new Date(now.getTime() - selection.olderThanMinutes * 60_000), limit: selection.maxLabs });
  const labs = selectLabs(rows.map((row) => toLab(row, policy.labNamespace)), now, selection);
  if (scope.dryRun) {
    const items = labs.map((lab) => ({ labId: lab.id, owner: maskOwner(lab.ownerId), ageMinutes: ageMinutes(lab, now), action }));
    for (const item of items) scope.log.info(item, `[DRY-RUN] Would ${action} lab ${item.labId}`);
    return { summary: { selected: labs.length }, failures: [], items };
  }
  const claimed = new Set(await claimLabs(deps.pool, labs.map((lab) => lab.id), scope.runId, now, policy.labLeaseSeconds));
  const summary: Record<string, number> = { selected: labs.length, claimed: claimed.size, finished: 0, failed: 0, unknown: 0, conflicts: 0, deferred: 0 };
  const failures: string[] = [];
  for (const lab of labs.filter((candidate) => claimed.has(candidate.id))) {
    if (scope.now() >= scope.deadline) {
      await releaseClaim(deps.pool, lab.id, scope.runId);
      summary.deferred = (summary.deferred ?? 0) + 1;
      continue;
    }
    const result = await processLab(scope, deps, lab, action);
    const key = result.applied ? result.verdict.status : 'conflicts';
    summary[key] = (summary[key] ?? 0) + 1;
    if (result.alert) summary.unknown_alerts = (summary.unknown_alerts ?? 0) + 1;
    if (result.verdict.status === 'unknown') failures.push(`lab ${lab.id}: stays ENDING, retried later: ${result.verdict.reason}`);
  }
  return { summary, failures };
}

async function processLab(scope: RunScope, deps: WatchdogDeps, lab: EndingLab, action: WatchdogAction) {
  scope.log.info({ labId: lab.id, ownerId: lab.ownerId, ageMinutes: ageMinutes(lab, scope.now()), action }, 'processing lab');
  const evidence = action === 'force' ? await teardown(deps.resources, lab, deps.config.policy.labLabel) : undefined;
  const outcome = verdict(action, evidence);
  if (outcome.status === 'unknown') return recordUnknown(scope, deps, lab, action, outcome);
  const applied = await record(scope, deps, lab, action, outcome);
  deps.metrics.actions.inc({ function: 'ending-watchdog', kind: action, outcome: applied ? outcome.status : 'conflict' });
  return { verdict: outcome, applied, alert: false };
}

/**
 * Ambiguous evidence: no terminal state. The lab stays ENDING, the attempt is counted durably and
 * the lease released for a later run; from the configured number of attempts on, each one also
 * raises the alert (metric outcome `unknown_alert`, decision `<action>:unknown-alert`).
 */
async function recordUnknown(scope: RunScope, deps: WatchdogDeps, lab: EndingLab, action: WatchdogAction, outcome: Verdict & { status: 'unknown' }) {
  const now = scope.now();
  const threshold = deps.config.policy.watchdogUnknownAttemptsAlert;
  const { attempts, alert } = await withTransaction(deps.pool, async (client) => {
    const counted = await recordUnknownAttempt(client, { id: lab.id, owner: scope.runId, now, error: outcome.reason.slice(0, 1000) });
    const raise = counted !== undefined && unknownAttemptsAlert(counted, threshold);
    await appendDecisions(client, [{
      runId: scope.runId, fn: 'ending-watchdog', entityKind: 'lab', entityId: lab.id, action: `${action}:${raise ? 'unknown-alert' : 'unknown'}`,
      reason: `${outcome.reason} (unknown attempt ${counted ?? '?'}, alert at ${threshold}); the lab stays ENDING`,
      inputs: { endingSince: lab.endingSince?.toISOString() ?? null, namespace: lab.namespace, attempts: counted ?? null }, outcome: counted === undefined ? 'conflict' : 'skipped',
    }], now);
    return { attempts: counted, alert: raise };
  });
  deps.metrics.actions.inc({ function: 'ending-watchdog', kind: action, outcome: attempts === undefined ? 'conflict' : 'unknown' });
  if (alert) {
    deps.metrics.actions.inc({ function: 'ending-watchdog', kind: action, outcome: 'unknown_alert' });
    scope.log.error({ labId: lab.id, attempts, reason: outcome.reason }, 'lab teardown unverified after repeated attempts; it stays ENDING');
  }
  return { verdict: outcome, applied: attempts !== undefined, alert };
}

/**
 * Delete what provably belongs to the lab (its label, each object deleted with its uid as a
 * precondition), then list what is left. The ownership rule is shared with cleanup-pod; lab ids are
 * uuids (labs.id), so they always travel in the label selector.
 */
async function teardown(resources: NamedResources, lab: EndingLab, labLabel: string): Promise<TeardownEvidence> {
  const owner = { key: labLabel, id: lab.id };
  const deleted = await resources.deleteOwned(lab.namespace, owner, {}, 0).catch((err: unknown) => ({ errors: [coerceError(err).message] }));
  try {
    const remaining = await resources.listOwned(lab.namespace, owner, {});
    return { deletesSucceeded: deleted.errors.length === 0, remaining, errors: deleted.errors };
  } catch (err) {
    return { deletesSucceeded: deleted.errors.length === 0, remaining: null, errors: [...deleted.errors, coerceError(err).message] };
  }
}

async function record(scope: RunScope, deps: WatchdogDeps, lab: EndingLab, action: WatchdogAction, outcome: FinalVerdict): Promise<boolean> {
  const now = scope.now();
  const evidenceExpiresAt = outcome.status === 'finished' ? new Date(now.getTime() + deps.config.policy.evidenceRetentionHours * 3_600_000) : undefined;
  return withTransaction(deps.pool, async (client) => {
    const finished = await finishLab(client, { id: lab.id, owner: scope.runId, status: outcome.status, now, evidenceExpiresAt });
    const reason = outcome.status === 'failed' ? outcome.reason : 'teardown verified: nothing labelled with the lab remains';
    await appendDecisions(client, [{
      runId: scope.runId, fn: 'ending-watchdog', entityKind: 'lab', entityId: lab.id, action: `${action}:${outcome.status}`,
      reason, inputs: { endingSince: lab.endingSince?.toISOString() ?? null, namespace: lab.namespace }, outcome: finished ? 'applied' : 'conflict',
    }], now);
    if (finished) await scope.stage(client, [labEvent(lab, action, outcome, now, evidenceExpiresAt)]);
    return finished !== undefined;
  });
}

function labEvent(lab: EndingLab, action: WatchdogAction, outcome: FinalVerdict, now: Date, evidenceExpiresAt?: Date) {
  const base = { labId: lab.id, endingSince: lab.endingSince?.toISOString() ?? null, finishedAt: now.toISOString() };
  const options = { source: sourceFor('ending-watchdog'), subject: lab.id, time: now };
  if (outcome.status === 'finished') {
    return buildEvent(EventTypes.labFinished, { ...base, action: 'force', evidenceExpiresAt: evidenceExpiresAt!.toISOString() }, options);
  }
  return buildEvent(EventTypes.labFailed, { ...base, action, reason: outcome.reason.slice(0, 1000) }, options);
}

type FinalVerdict = Exclude<Verdict, { status: 'unknown' }>;

function toLab(row: LabRow, defaultNamespace: string): EndingLab {
  return { id: row.id, ownerId: row.owner_id, endingSince: row.ending_since, namespace: row.namespace ?? defaultNamespace };
}

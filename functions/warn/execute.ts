/*
 * warn's executor, one batch at a time (the kernel sizes, orders and stops the batches): claim the
 * batch's levels in the ledger in one statement (only a won claim is delivered), deliver them
 * WARN_CONCURRENCY at a time with one exec each (shared/notices), then record every outcome with
 * its decision and its reservation.warned event in one commit, and post the webhook notices owed.
 * The statements of a batch are the same whatever the execs do, so a run's statement count depends
 * on its work alone.
 */
import { actionLinksForMany } from '../../shared/actions/links.js';
import type { ActionLink } from '../../shared/actions/links.js';
import { claimWarnings, recordWarnings } from '../../shared/db/queries/warnings.js';
import { buildEvent, sourceFor } from '../../shared/events/build.js';
import { EventTypes } from '../../shared/events/types.js';
import { coerceError } from '../../shared/errors.js';
import { claimAndSend, podFileLeaseSeconds } from '../../shared/notices/claims.js';
import type { ActionResult } from '../../shared/runtime/execute.js';
import type { DecisionEntry, Run } from '../../shared/runtime/run.js';
import type { OwedWebhook, WarnAction, WarnPlanAction } from './decide.js';
import { deliverWarning } from './deliver.js';
import type { Delivery } from './deliver.js';
import type { WarnDeps } from './load.js';
import { sendWebhooks, webhookKey } from './webhook.js';

/**
 * A batch is WARN_CONCURRENCY warnings, one wave of execs, so a batch started just before the run's
 * end finishes within one exec timeout.
 */
export const batchSize = (deps: WarnDeps): number => deps.config.warn.concurrency;

/** Results in the order of `actions`. */
export async function executeWarn(run: Run, actions: WarnPlanAction[], deps: WarnDeps): Promise<ActionResult[]> {
  const warnings = actions.filter((action): action is WarnAction => action.kind === 'warn');
  const outcomes = await warnAll(run, deps, warnings);
  const delivered = warnings.filter((action) => outcomes.get(action)?.recorded === true);
  const owed: OwedWebhook[] = [...delivered, ...actions.filter((action) => action.kind === 'webhook')];
  // The pod channel is done and recorded: trouble with the webhook's own writes costs only the notices.
  const posted = await sendWebhooks(deps, owed, run.now()).catch((err: unknown) => {
    run.log.error({ err: coerceError(err) }, 'webhook notices not sent; later runs retry the ones still owed');
    return new Map<string, string | undefined>();
  });
  return actions.map((action) => {
    const webhook = webhookOutcome(posted, action);
    if (action.kind === 'webhook')
      return webhook
        ? { outcome: webhook === 'webhook_sent' ? 'applied' : 'failed', counters: [webhook] }
        : { outcome: 'skipped', metrics: [] };
    const result = outcomes.get(action)!.result;
    return webhook ? { ...result, counters: [...(result.counters ?? []), webhook] } : result;
  });
}

function webhookOutcome(
  posted: Map<string, string | undefined>,
  owed: OwedWebhook,
): 'webhook_sent' | 'webhook_failed' | undefined {
  const key = webhookKey(owed);
  if (!posted.has(key)) return undefined;
  return posted.get(key) === undefined ? 'webhook_sent' : 'webhook_failed';
}

interface Outcome {
  result: ActionResult;
  /** What goes into the ledger: a delivery, or a failure that releases the level for a retry. */
  record?: Delivery;
  recorded?: boolean;
}

async function warnAll(run: Run, deps: WarnDeps, warnings: WarnAction[]): Promise<Map<WarnAction, Outcome>> {
  const outcomes = new Map<WarnAction, Outcome>();
  if (warnings.length === 0) return outcomes;
  const deliverable = warnings.filter((action) => action.podUnknown === undefined);
  const now = run.now();
  const lease = podFileLeaseSeconds(deps.config);
  const links = await linksFor(deps, deliverable, now);
  const { sent, claimedElsewhere } = await claimAndSend(
    deliverable,
    (claims) => claimWarnings(deps.pool, [...claims], now, lease),
    (action) => deliverOne(deps, action, now, links.get(action) ?? []),
    {
      fanOut: deps.config.warn.concurrency,
      onError: (error): Delivery => ({ delivered: false, broadcast: false, error }),
    },
  );
  for (const action of warnings) if (action.podUnknown !== undefined) outcomes.set(action, failed(action.podUnknown));
  for (const action of claimedElsewhere) outcomes.set(action, { result: skipped('claimed_elsewhere') });
  for (const { notice, result } of sent) outcomes.set(notice, ofDelivery(notice, result));
  try {
    await record(run, deps, warnings, outcomes);
  } catch (err) {
    // Not recorded: the claims stay, and once abandoned the files are delivered again (no broadcast).
    const error = `recording the outcome failed: ${coerceError(err).message}`;
    for (const action of warnings) if (outcomes.get(action)!.record) outcomes.set(action, failed(error));
  }
  return outcomes;
}

function deliverOne(deps: WarnDeps, action: WarnAction, now: Date, links: ActionLink[]): Promise<Delivery> {
  return deliverWarning(deps.exec, deps.config.policy.mainContainer, action, now, links);
}

/**
 * The batch's action links, their short ids stored in one statement before the claim; a warning
 * without links still goes out (they are an extra, not the message).
 */
async function linksFor(deps: WarnDeps, warnings: WarnAction[], now: Date): Promise<Map<WarnAction, ActionLink[]>> {
  const subjects = warnings.map((action) => ({ reservationId: action.reservationId, deadline: action.expiresAt, now }));
  const links = await actionLinksForMany(deps.config.actions, subjects, deps.pool).catch(() => warnings.map(() => []));
  return new Map(warnings.map((action, index) => [action, links[index] ?? []]));
}

const skipped = (key: string): ActionResult => ({ outcome: 'skipped', counters: [key], metrics: [] });

function ofDelivery(action: WarnAction, delivery: Delivery): Outcome {
  // A pod gone since it was checked: left to expire, and the claim released (as failed) in case it returns.
  if (delivery.skipped)
    return {
      result: skipped('pod_missing'),
      record: { ...delivery, error: 'the pod was gone when the warning was sent' },
    };
  if (!delivery.delivered) return failed(delivery.error ?? 'not delivered');
  const counters = ['warned', ...(action.redelivery ? ['redelivered'] : [])];
  return { result: { outcome: 'applied', counters, metrics: ['done'] }, record: delivery };
}

function failed(error: string): Outcome {
  return {
    result: { outcome: 'failed', counters: ['warn_failed'], failure: error },
    record: { delivered: false, broadcast: false, error },
  };
}

/** One commit for the batch: the ledger rows, a decision per delivery or failure, an event per delivery. */
async function record(
  run: Run,
  deps: WarnDeps,
  warnings: WarnAction[],
  outcomes: Map<WarnAction, Outcome>,
): Promise<void> {
  const webhook = deps.config.webhook !== undefined;
  const toRecord = warnings.filter((action) => outcomes.get(action)!.record !== undefined);
  if (toRecord.length === 0) return;
  const now = run.now();
  const rows = toRecord.map((action) => {
    const delivery = outcomes.get(action)!.record!;
    return {
      action,
      reservationId: action.reservationId,
      expiresAt: action.expiresAt,
      levelMinutes: action.levelMinutes,
      minutesLeft: action.minutesLeft,
      delivered: delivery.delivered,
      error: delivery.error,
      webhook,
    };
  });
  const written = await run.commit(async (db) => {
    const recorded = await recordWarnings(db, rows, now);
    return {
      value: recorded,
      decisions: recorded.map((row) => decisionOf(row.action, row.delivered, row.error)),
      events: recorded.filter((row) => row.delivered).map((row) => warnedEvent(row.action, now)),
    };
  });
  for (const row of written) {
    outcomes.get(row.action)!.recorded = row.delivered;
    if (row.delivered) run.metrics.warningsSent.inc({ level: String(row.levelMinutes) });
  }
}

function decisionOf(action: WarnAction, delivered: boolean, error: string | undefined): DecisionEntry {
  const entry = {
    entityKind: 'reservation' as const,
    entityId: action.reservationId,
    action: 'warn',
    reason: action.reason,
    inputs: action.inputs,
  };
  return delivered ? entry : { ...entry, outcome: 'failed', error: error ?? 'not delivered' };
}

function warnedEvent(action: WarnAction, now: Date) {
  return buildEvent(
    EventTypes.reservationWarned,
    {
      reservationId: action.reservationId,
      podName: action.podName,
      namespace: action.namespace,
      expiresAt: action.expiresAt.toISOString(),
      levelMinutes: action.levelMinutes,
      minutesLeft: action.minutesLeft,
      warnedAt: now.toISOString(),
    },
    { source: sourceFor('warn'), subject: action.reservationId, time: now },
  );
}

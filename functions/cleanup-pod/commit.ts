/*
 * Saving a step's outcomes for every teardown of the sweep at that step: one commit (through the
 * run kernel, with its decisions and events) holding one statement per kind of write (steps,
 * holder check, disk release), so a sweep's SQL grows with its steps, not with its reservations.
 * A teardown whose lease was lost is left out of every write. If the shared commit fails, each
 * teardown is saved in its own, so one bad row never blocks the others.
 */
import { releaseDisks, saveSteps, stillHoldDisks } from '../../shared/db/queries/cleanup.js';
import type { TeardownRow } from '../../shared/db/queries/cleanup.js';
import type { Db } from '../../shared/db/pool.js';
import { buildEvent, sourceFor } from '../../shared/events/build.js';
import type { LifecycleEvent } from '../../shared/events/build.js';
import { EventTypes } from '../../shared/events/types.js';
import { coerceError } from '../../shared/errors.js';
import { stableUuid } from '../../shared/ids.js';
import type { Committed as KernelCommitted, DecisionEntry, Run } from '../../shared/runtime/run.js';
import type { Step, Target, Transition } from './types.js';

/** One teardown's outcome for the step it was at. */
export interface Outcome {
  row: TeardownRow;
  target: Target;
  step: Step;
  transition: Transition;
  /** The step it is at after this outcome. */
  to: Step;
  /** Where a retry, the moment it is due again. */
  nextAttemptAt: Date;
  reason: string;
  /** Entries about objects left alone, written with the step. */
  decisions: DecisionEntry[];
}

export interface Committed {
  /** Teardowns whose outcome was saved (lease still held). */
  saved: Set<string>;
  /** Teardowns whose disk this commit released. */
  released: Set<string>;
  /** Per teardown, why its outcome was not saved. */
  failures: Map<string, string>;
}

export async function commitOutcomes(run: Run, outcomes: Outcome[]): Promise<Committed> {
  try {
    return await run.commit((db) => write(run, db, outcomes));
  } catch (err) {
    if (outcomes.length === 1)
      return {
        saved: new Set(),
        released: new Set(),
        failures: new Map([[outcomes[0]!.row.reservation_id, coerceError(err).message]]),
      };
  }
  const each = await Promise.all(outcomes.map((outcome) => commitOutcomes(run, [outcome])));
  return {
    saved: new Set(each.flatMap((c) => [...c.saved])),
    released: new Set(each.flatMap((c) => [...c.released])),
    failures: new Map(each.flatMap((c) => [...c.failures])),
  };
}

async function write(run: Run, db: Db, outcomes: Outcome[]): Promise<KernelCommitted<Committed>> {
  const now = run.now();
  const saved = await saveSteps(
    db,
    run.scope.runId,
    now,
    outcomes.map(({ row, transition, to, nextAttemptAt, reason }) => ({
      reservationId: row.reservation_id,
      step: to,
      nextAttemptAt,
      ...(transition.kind === 'retry' && { error: reason }),
      failedAttempt: transition.kind !== 'advance',
      releaseLease: transition.kind === 'retry',
    })),
  );
  const kept = outcomes.filter((o) => saved.has(o.row.reservation_id));
  const events: LifecycleEvent[] = [];
  const snapshots = kept.filter((o) => o.transition.kind === 'advance' && o.transition.snapshot);
  // The holder is read again under a row lock: a disk that moved since the claim is not snapshotted here.
  const holding = await stillHoldDisks(
    db,
    snapshots.map(({ row }) => ({ reservationId: row.reservation_id, userId: row.user_id, diskName: row.disk_name })),
  );
  for (const outcome of snapshots) {
    if (holding.has(outcome.row.reservation_id)) events.push(podCleaned(outcome, now));
    else
      outcome.reason =
        'the disk moved off this reservation before the snapshot request: no snapshot for this reservation';
  }
  const released = await releaseDisks(
    db,
    kept.filter((o) => o.step === 'release_disk' && o.transition.kind === 'advance').map((o) => o.row.reservation_id),
    now,
  );
  events.push(...released.map((disk) => diskReleased(disk, now)));
  const lost = outcomes
    .filter((o) => !saved.has(o.row.reservation_id))
    .map((o): [string, string] => [o.row.reservation_id, 'lease lost to another runner']);
  return {
    value: { saved, released: new Set(released.map((disk) => disk.reservation_id)), failures: new Map(lost) },
    decisions: kept.flatMap((outcome) => [...outcome.decisions, ...stepDecision(outcome)]),
    events,
  };
}

function stepDecision({ row, step, to, transition, reason }: Outcome): DecisionEntry[] {
  const base = { entityKind: 'reservation' as const, entityId: row.reservation_id, reason };
  if (transition.kind !== 'retry') return [{ ...base, action: `${step}->${to}`, outcome: 'applied' }];
  return transition.escalated ? [{ ...base, action: `${step}:escalated`, outcome: 'failed' }] : [];
}

function podCleaned({ row, target }: Outcome, now: Date) {
  return buildEvent(
    EventTypes.podCleaned,
    {
      reservationId: row.reservation_id,
      userId: row.user_id,
      podName: row.pod_name,
      namespace: target.namespace,
      diskName: row.disk_name,
      volumeId: row.ebs_volume_id,
      cleanedAt: now.toISOString(),
    },
    {
      source: sourceFor('cleanup-pod'),
      subject: row.reservation_id,
      time: now,
      id: stableUuid(`${row.reservation_id}:pod.cleaned`),
    },
  );
}

function diskReleased(
  disk: { reservation_id: string; user_id: string; disk_name: string; ebs_volume_id: string | null },
  now: Date,
) {
  return buildEvent(
    EventTypes.diskReleased,
    {
      reservationId: disk.reservation_id,
      userId: disk.user_id,
      diskName: disk.disk_name,
      volumeId: disk.ebs_volume_id,
      releasedAt: now.toISOString(),
    },
    { source: sourceFor('cleanup-pod'), subject: disk.reservation_id, time: now },
  );
}

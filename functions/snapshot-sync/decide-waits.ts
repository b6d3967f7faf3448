/*
 * When a wait on EC2 has lasted too long, pure. Every wait snapshot-sync makes is bounded: past
 * SNAPSHOT_WAIT_ESCALATE_MINUTES (or at once, for a volume in `error`) it is overdue, and stays so
 * until it ends; the first time, it is escalated (decision log), every run it is counted (metric).
 */
import type { EntityKind } from '../../shared/db/queries/decisions.js';

export interface OpenWait {
  key: string;
  since: Date;
  escalatedAt: Date | null;
  /** Overdue at once: waiting longer cannot help. */
  escalateNow: boolean;
}

export interface Overdue {
  key: string;
  /** First run to find it overdue: log the escalation. */
  first: boolean;
  minutes: number;
}

export function overdueWaits(waits: OpenWait[], now: Date, boundMinutes: number): Overdue[] {
  return waits.flatMap((wait) => {
    const minutes = Math.max(0, Math.floor((now.getTime() - wait.since.getTime()) / 60_000));
    if (!wait.escalateNow && minutes < boundMinutes) return [];
    return [{ key: wait.key, first: wait.escalatedAt === null, minutes }];
  });
}

export interface Wait {
  key: string;
  entityKind: EntityKind;
  entityId: string;
  reason: string;
  escalateNow?: boolean;
}

/** A stage's upkeep (Plan.upkeep): what it waits on now, and the waits it settled (keys). */
export interface TrackWaits {
  kind: 'track-waits';
  waits: Wait[];
  settledKeys: string[];
}

export function trackWaits(waits: Wait[], settledKeys: string[]): TrackWaits[] {
  if (waits.length === 0 && settledKeys.length === 0) return [];
  return [{ kind: 'track-waits', waits, settledKeys }];
}

/*
 * The `data` of every event type, validated by the producer (buildEvent) and by the consumer
 * (the classifier). Our own events are strict: a field nobody agreed on is a defect. Events carry
 * ids only, never emails or names. `userId` appears where snapshot-sync needs it for the
 * origin-compatible snapshot tags; it is an opaque id and the logger hashes it (shared/log.ts).
 */
import { z } from 'zod';
import { EventTypes } from './types.js';
import type { EventType } from './types.js';
import { podSchema } from './pod.js';

// Reservation ids are VARCHAR(255) UUID strings in the origin schema; older rows are not
// guaranteed to be canonical UUIDs, so only lab ids (a real uuid column) are checked as UUIDs.
const reservationId = z.string().min(1).max(255);
const userId = z.string().min(1).max(255);
const labId = z.uuid();
const instant = z.iso.datetime({ offset: true });
const kubeName = z.string().min(1).max(253);
const diskName = z.string().min(1).max(255);
const volumeId = z.string().regex(/^vol-[0-9a-f]+$/, 'must be an EBS volume id (vol-…)');
const snapshotId = z.string().regex(/^snap-[0-9a-f]+$/, 'must be an EBS snapshot id (snap-…)');
const reason = z.string().min(1).max(1000);
const count = z.int().nonnegative();

/** expired, failed and cancelled share one shape: what ended, from which state, and why. */
const reservationEnded = z.strictObject({
  reservationId,
  previousStatus: z.enum(['queued', 'pending', 'preparing', 'active']),
  reason,
  podName: kubeName.nullable(),
  namespace: kubeName.nullable(),
  expiresAt: instant.nullable(),
  endedAt: instant,
});

const reservationWarned = z.strictObject({
  reservationId,
  podName: kubeName,
  namespace: kubeName,
  expiresAt: instant,
  levelMinutes: z.int().positive(),
  minutesLeft: count,
  warnedAt: instant,
});

/** An extension accepted through an action link or by an operator: the deadline only moves later. */
const reservationExtended = z.strictObject({
  reservationId,
  previousExpiresAt: instant,
  expiresAt: instant,
  extensions: z.int().positive(),
  by: z.enum(['link', 'slack', 'operator']),
  extendedAt: instant,
});

const reservationEndedByUser = reservationEnded.extend({ by: z.enum(['link', 'slack', 'operator']) });

const reservationOom = z.strictObject({
  reservationId,
  podName: kubeName,
  namespace: kubeName,
  podUid: z.string().min(1).max(64),
  container: kubeName,
  restartCount: count,
  oomCount: z.int().positive(),
  detectedAt: instant,
});

const podCleaned = z.strictObject({
  reservationId,
  userId,
  podName: kubeName.nullable(),
  namespace: kubeName,
  diskName: diskName.nullable(),
  volumeId: volumeId.nullable(),
  cleanedAt: instant,
});

const diskReleased = z.strictObject({
  reservationId,
  userId,
  diskName,
  volumeId: volumeId.nullable(),
  releasedAt: instant,
});

const snapshotCompleted = z.strictObject({
  snapshotId,
  volumeId,
  reservationId: reservationId.nullable(),
  diskName: diskName.nullable(),
  sizeGb: z.int().positive().nullable(),
  completedAt: instant,
});

const snapshotDeleted = z.strictObject({
  snapshotId,
  volumeId: volumeId.nullable(),
  diskName: diskName.nullable(),
  reason: z.enum(['retention', 'disk-deleted']),
  deletedAt: instant,
});

const labFinished = z.strictObject({
  labId,
  action: z.literal('force'),
  endingSince: instant.nullable(),
  finishedAt: instant,
  evidenceExpiresAt: instant,
});

const labFailed = z.strictObject({
  labId,
  action: z.enum(['force', 'fail']),
  reason,
  endingSince: instant.nullable(),
  finishedAt: instant,
});

export const eventDataSchemas = {
  [EventTypes.reservationWarned]: reservationWarned,
  [EventTypes.reservationExpired]: reservationEnded,
  [EventTypes.reservationFailed]: reservationEnded,
  [EventTypes.reservationCancelled]: reservationEnded,
  [EventTypes.reservationOom]: reservationOom,
  [EventTypes.reservationExtended]: reservationExtended,
  [EventTypes.reservationEndedByUser]: reservationEndedByUser,
  [EventTypes.podCleaned]: podCleaned,
  [EventTypes.diskReleased]: diskReleased,
  [EventTypes.snapshotCompleted]: snapshotCompleted,
  [EventTypes.snapshotDeleted]: snapshotDeleted,
  [EventTypes.labFinished]: labFinished,
  [EventTypes.labFailed]: labFailed,
  [EventTypes.podAdded]: podSchema,
  [EventTypes.podUpdated]: podSchema,
  [EventTypes.podDeleted]: podSchema,
} as const satisfies Record<EventType, z.ZodType>;

export type EventData<T extends EventType> = z.output<(typeof eventDataSchemas)[T]>;

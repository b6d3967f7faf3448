/*
 * Carrying out a shutdown decision. The row is written before CreateSnapshot and the snapshot id
 * recorded after it; when that second write fails the snapshot is kept and the row stays
 * `requested`, for the next run to find by its request token. Nothing is ever deleted to
 * "compensate" for a failed write (the origin deleted the snapshot and the volume, A-12).
 */
import { countSnapshotStarted } from '../../shared/db/queries/disks.js';
import { abandonRequested, claimRequested, insertShutdownRow, recordStarted } from '../../shared/db/queries/snapshots.js';
import type { Db } from '../../shared/db/pool.js';
import { awsErrorCode } from '../../shared/aws/errors.js';
import { Conflict, NotFound } from '../../shared/errors.js';
import type { SyncContext } from './context.js';
import type { ShutdownAction, ShutdownTarget, SnapshotSeen } from './decide.js';
import { shutdownDescription, shutdownTags } from './tags.js';

type Of<K extends ShutdownAction['kind']> = Extract<ShutdownAction, { kind: K }>;

export async function executeShutdown(ctx: SyncContext, action: ShutdownAction, claimEvent: boolean): Promise<void> {
  if (action.kind === 'wait') {
    ctx.count('awaiting_volume');
    if (action.escalate) ctx.count('volumes_in_error');
    ctx.scope.log.info({ reservationId: action.target.reservationId, volumeId: action.target.volumeId, reason: action.reason }, 'shutdown snapshot waits');
    return;
  }
  if (!ctx.take()) return;
  const { target } = action;
  if (ctx.dryRun) {
    const snapshotId = action.kind === 'record' ? action.snapshot.snapshotId : null;
    ctx.plan(`${action.kind}-snapshot`, { reservationId: target.reservationId, volumeId: target.volumeId, snapshotId }, action.reason);
    return;
  }
  try {
    if (action.kind === 'record' && await record(ctx, action.rowId, target, action.snapshot, action.reason)) ctx.count('snapshots_recovered');
    if (action.kind === 'abandon') await abandon(ctx, action, claimEvent);
    if (action.kind === 'refuse') await abandon(ctx, action, claimEvent);
    if (action.kind === 'create') await create(ctx, action, claimEvent);
    if (action.kind === 'record' && action.duplicates.length > 0) reportDuplicates(ctx, action);
  } catch (err) {
    await ctx.failAction(`${action.kind}-snapshot`, { entityKind: 'volume', entityId: target.volumeId, inputs: inputsOf(target) }, err);
  }
}

const inputsOf = (target: ShutdownTarget, more: Record<string, unknown> = {}) =>
  ({ reservationId: target.reservationId, volumeId: target.volumeId, diskId: target.diskId, diskName: target.diskName, ...more });

/** requested → pending, and the disk counts one more pending snapshot, in one transaction. */
async function record(ctx: SyncContext, rowId: string, target: ShutdownTarget, snapshot: SnapshotSeen, reason: string): Promise<boolean> {
  const started = { snapshotId: snapshot.snapshotId, startTime: snapshot.startTime, sizeGb: snapshot.sizeGb };
  const recorded = await ctx.tx(async (db) => {
    const row = await recordStarted(db, rowId, started, ctx.now());
    if (row?.disk_id) await countSnapshotStarted(db, row.disk_id);
    const decision = { entityKind: 'snapshot' as const, entityId: snapshot.snapshotId, action: 'record-snapshot', reason, inputs: inputsOf(target, { rowId }) };
    return { value: row !== undefined, decisions: [{ ...decision, outcome: row ? 'applied' as const : 'conflict' as const }] };
  });
  if (!recorded) {
    ctx.count('already_recorded');
    return false;
  }
  if (target.diskId === null) ctx.count('disk_rows_missing');
  ctx.deps.metrics.snapshots.inc({ state: 'pending' });
  ctx.done('record-snapshot');
  return true;
}

async function create(ctx: SyncContext, action: Of<'create'>, claimEvent: boolean): Promise<void> {
  const { target } = action;
  const request = action.requested
    ? await reclaim(ctx, action.requested.rowId, action.requested.updatedAt, action.requested.requestToken)
    : await writeRequest(ctx, target, claimEvent, action.reason);
  if (!request) return;
  const tags = shutdownTags({ ...target, requestToken: request.token, now: ctx.now() });
  const description = shutdownDescription(target.userId, target.diskName);
  let info;
  try {
    info = await ctx.awsOnce((signal) => ctx.deps.ec2.createSnapshot({ volumeId: target.volumeId, description, tags }, signal));
  } catch (err) {
    if (err instanceof Conflict) return refusedByEc2(ctx, target, request.rowId, err);
    if (!(err instanceof NotFound)) throw err;
    await abandon(ctx, { kind: 'abandon', rowId: request.rowId, target, reason: 'CreateSnapshot: the volume does not exist' }, false);
    return;
  }
  const seen = { snapshotId: info.snapshotId, state: info.state, startTime: info.startTime, sizeGb: info.volumeSizeGiB, tags: info.tags };
  if (await record(ctx, request.rowId, target, seen, `created from ${target.volumeId}`)) ctx.count('snapshots_created');
}

interface Request {
  rowId: string;
  token: string;
}

async function reclaim(ctx: SyncContext, rowId: string, updatedAt: Date, token: string): Promise<Request | undefined> {
  const claimed = await claimRequested(ctx.deps.pool, rowId, updatedAt, ctx.now());
  if (!claimed) ctx.count('already_requested');
  return claimed ? { rowId, token } : undefined;
}

/** The row first (and the event's inbox entry with it); undefined when another run has the row. */
async function writeRequest(ctx: SyncContext, target: ShutdownTarget, claimEvent: boolean, reason: string): Promise<Request | undefined> {
  const outcome = await ctx.tx<Request | 'duplicate_events' | 'already_requested'>(async (db) => {
    if (claimEvent && !(await ctx.scope.claimEvent(db))) return { value: 'duplicate_events' as const, decisions: [] };
    const row = await insertShutdownRow(db, toRow(target), 'requested', null, ctx.now());
    if (!row) return { value: 'already_requested' as const, decisions: [] };
    const decision = { entityKind: 'volume' as const, entityId: target.volumeId, action: 'request-snapshot', reason, inputs: inputsOf(target, { rowId: row.id }) };
    return { value: { rowId: row.id, token: row.request_token }, decisions: [decision] };
  });
  if (typeof outcome === 'string') ctx.count(outcome);
  return typeof outcome === 'string' ? undefined : outcome;
}

/**
 * CreateSnapshot answered IncorrectState (the volume changed state since we read it): a definite
 * refusal, so nothing was made. The row stays `requested`; the next run looks at the volume again.
 */
async function refusedByEc2(ctx: SyncContext, target: ShutdownTarget, rowId: string, err: Conflict): Promise<void> {
  ctx.count('snapshots_refused_by_ec2');
  ctx.done('create-snapshot', 'skipped');
  const reason = `EC2 refused (${awsErrorCode(err) ?? 'conflict'}): the volume is looked at again by a later run`;
  await ctx.logDecisions(ctx.deps.pool, [{ entityKind: 'volume', entityId: target.volumeId, action: 'create-snapshot', reason, inputs: inputsOf(target, { rowId }), outcome: 'conflict' }]);
}

/** Why no shutdown snapshot is taken, per action: the counter, and the metric for refusals. */
const NOT_TAKEN = {
  abandon: { action: 'abandon-snapshot', counter: 'volumes_missing', metric: null },
  'disk-moved': { action: 'refuse-snapshot', counter: 'refused_disk_moved', metric: 'disk-moved' },
  'not-owned': { action: 'refuse-snapshot', counter: 'volumes_not_owned', metric: 'not-owned' },
} as const;

/** No snapshot for this (reservation, volume), for good: the row records why, the sweep stops asking. */
async function abandon(ctx: SyncContext, action: Of<'abandon'> | Of<'refuse'>, claimEvent: boolean): Promise<void> {
  const { target, reason } = action;
  const why = NOT_TAKEN[action.kind === 'refuse' ? action.cause : 'abandon'];
  const applied = await ctx.tx(async (db: Db) => {
    if (claimEvent && !(await ctx.scope.claimEvent(db))) return { value: false, decisions: [] };
    const done = action.rowId === null
      ? (await insertShutdownRow(db, toRow(target), 'abandoned', reason, ctx.now())) !== undefined
      : await abandonRequested(db, action.rowId, reason, ctx.now());
    const decision = { entityKind: 'volume' as const, entityId: target.volumeId, action: why.action, reason, inputs: inputsOf(target, { heldBy: target.heldBy }) };
    return { value: done, decisions: done ? [decision] : [] };
  });
  if (applied) ctx.count(why.counter);
  if (applied && why.metric) ctx.done(why.metric, 'skipped');
  if (applied && action.kind === 'refuse' && action.owner) ctx.deps.metrics.foreignObjects.inc({ function: 'snapshot-sync', kind: 'volume', owner: action.owner });
  if (applied && why.metric) ctx.scope.log.warn({ reservationId: target.reservationId, volumeId: target.volumeId, reason }, 'shutdown snapshot refused');
  ctx.done(why.action, applied ? 'done' : 'skipped');
}

const toRow = (target: ShutdownTarget) => ({
  reservation_id: target.reservationId,
  user_id: target.userId,
  disk_name: target.diskName,
  disk_id: target.diskId,
  volume_id: target.volumeId,
});

function reportDuplicates(ctx: SyncContext, action: Of<'record'>): void {
  // Two snapshots for one request (a retry raced an answer EC2 had not shown yet): both are kept.
  ctx.count('duplicate_snapshots', action.duplicates.length);
  ctx.scope.log.warn({ snapshotId: action.snapshot.snapshotId, duplicates: action.duplicates }, 'more than one snapshot carries this request token; all are kept');
}

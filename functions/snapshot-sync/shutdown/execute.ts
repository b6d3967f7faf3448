/*
 * Carrying out a shutdown decision. The row is written before CreateSnapshot (with the event's
 * inbox record, for an event run) and the snapshot id recorded after it; when that second write
 * fails the snapshot is kept and the row stays `requested`, for the next run to find by its request
 * token. Nothing is ever deleted to "compensate" for a failed write (the origin deleted the
 * snapshot and the volume, A-12).
 */
import { awsErrorCode } from '../../../shared/aws/errors.js';
import { countSnapshotStarted } from '../../../shared/db/queries/disks.js';
import {
  abandonRequested,
  claimRequested,
  insertShutdownRow,
  recordStarted,
} from '../../../shared/db/queries/snapshots.js';
import { Conflict, NotFound } from '../../../shared/errors.js';
import type { ActionResult, Executors } from '../../../shared/runtime/execute.js';
import type { Run } from '../../../shared/runtime/run.js';
import type { ShutdownAction, ShutdownTarget, SnapshotSeen } from '../decide.js';
import { FN, ec2CallOnce } from '../ec2-calls.js';
import type { SyncDeps } from '../ec2-calls.js';
import { shutdownDescription, shutdownTags } from '../tags.js';
import { inputsOf } from './decide.js';
import type { ShutdownStep } from './decide.js';

type Of<K extends ShutdownAction['kind']> = Extract<ShutdownAction, { kind: K }>;

export const shutdownExecutors: Executors<ShutdownStep, SyncDeps> = {
  'create-snapshot': (run, step, deps) => create(run, step.rule, deps),
  'record-snapshot': (run, step, deps) => recordFound(run, step.rule, deps),
  'abandon-snapshot': (run, step, deps) => abandon(run, step.rule, deps),
  'refuse-snapshot': (run, step, deps) => abandon(run, step.rule, deps),
};

async function recordFound(run: Run, rule: Of<'record'>, deps: SyncDeps): Promise<ActionResult> {
  const recorded = await record(run, deps, rule.rowId, rule.target, rule.snapshot, rule.reason);
  // Two snapshots for one request (a retry raced an answer EC2 had not shown yet): both are kept.
  if (rule.duplicates.length > 0)
    run.log.warn(
      { snapshotId: rule.snapshot.snapshotId, duplicates: rule.duplicates },
      'more than one snapshot carries this request token; all are kept',
    );
  const counters = [...(recorded.counters ?? []), ...(recorded.outcome === 'applied' ? ['snapshots_recovered'] : [])];
  return {
    ...recorded,
    counters,
    ...(rule.duplicates.length > 0 ? { counts: { duplicate_snapshots: rule.duplicates.length } } : {}),
  };
}

/** requested → pending, and the disk counts one more pending snapshot, in one commit. */
async function record(
  run: Run,
  deps: SyncDeps,
  rowId: string,
  target: ShutdownTarget,
  snapshot: SnapshotSeen,
  reason: string,
): Promise<ActionResult> {
  const started = { snapshotId: snapshot.snapshotId, startTime: snapshot.startTime, sizeGb: snapshot.sizeGb };
  const recorded = await run.commit(async (db) => {
    const row = await recordStarted(db, rowId, started, run.now());
    if (row?.disk_id) await countSnapshotStarted(db, row.disk_id);
    const decision = {
      entityKind: 'snapshot' as const,
      entityId: snapshot.snapshotId,
      action: 'record-snapshot',
      reason,
      inputs: inputsOf(target, { rowId }),
    };
    return {
      value: row !== undefined,
      decisions: [{ ...decision, outcome: row ? ('applied' as const) : ('conflict' as const) }],
    };
  });
  if (!recorded) return { outcome: 'conflict', counters: ['already_recorded'] };
  deps.metrics.snapshots.inc({ state: 'pending' });
  return { outcome: 'applied', counters: target.diskId === null ? ['disk_rows_missing'] : [] };
}

async function create(run: Run, rule: Of<'create'>, deps: SyncDeps): Promise<ActionResult> {
  const { target } = rule;
  const request = rule.requested
    ? await reclaim(run, deps, rule.requested.rowId, rule.requested.updatedAt, rule.requested.requestToken)
    : await writeRequest(run, target, rule.reason);
  if (!request) return { outcome: 'conflict', counters: ['already_requested'], metrics: ['skipped'] };
  const tags = shutdownTags({ ...target, requestToken: request.token, now: run.now() });
  const description = shutdownDescription(target.userId, target.diskName);
  let info;
  try {
    info = await ec2CallOnce(deps, (signal) =>
      deps.ec2.createSnapshot({ volumeId: target.volumeId, description, tags }, signal),
    );
  } catch (err) {
    if (err instanceof Conflict) return refusedByEc2(run, target, request.rowId, err);
    if (!(err instanceof NotFound)) throw err;
    return abandon(
      run,
      { kind: 'abandon', rowId: request.rowId, target, reason: 'CreateSnapshot: the volume does not exist' },
      deps,
    );
  }
  const seen = {
    snapshotId: info.snapshotId,
    state: info.state,
    startTime: info.startTime,
    sizeGb: info.volumeSizeGiB,
    tags: info.tags,
  };
  const recorded = await record(run, deps, request.rowId, target, seen, `created from ${target.volumeId}`);
  return recorded.outcome === 'applied'
    ? { ...recorded, counters: [...(recorded.counters ?? []), 'snapshots_created'] }
    : recorded;
}

interface Request {
  rowId: string;
  token: string;
}

async function reclaim(
  run: Run,
  deps: SyncDeps,
  rowId: string,
  updatedAt: Date,
  token: string,
): Promise<Request | undefined> {
  const claimed = await claimRequested(deps.pool, rowId, updatedAt, run.now());
  return claimed ? { rowId, token } : undefined;
}

/** The row first (the event's inbox record commits with it); undefined when another run has the row. */
async function writeRequest(run: Run, target: ShutdownTarget, reason: string): Promise<Request | undefined> {
  return run.commit(async (db) => {
    const row = await insertShutdownRow(db, toRow(target), 'requested', null, run.now());
    if (!row) return { value: undefined };
    const decision = {
      entityKind: 'volume' as const,
      entityId: target.volumeId,
      action: 'request-snapshot',
      reason,
      inputs: inputsOf(target, { rowId: row.id }),
    };
    return { value: { rowId: row.id, token: row.request_token }, decisions: [decision] };
  });
}

/**
 * CreateSnapshot answered IncorrectState (the volume changed state since we read it): a definite
 * refusal, so nothing was made. The row stays `requested`; the next run looks at the volume again.
 */
async function refusedByEc2(run: Run, target: ShutdownTarget, rowId: string, err: Conflict): Promise<ActionResult> {
  const reason = `EC2 refused (${awsErrorCode(err) ?? 'conflict'}): the volume is looked at again by a later run`;
  await run.commit(async () => ({
    value: undefined,
    decisions: [
      {
        entityKind: 'volume',
        entityId: target.volumeId,
        action: 'create-snapshot',
        reason,
        inputs: inputsOf(target, { rowId }),
        outcome: 'conflict',
      },
    ],
  }));
  return { outcome: 'conflict', counters: ['snapshots_refused_by_ec2'], metrics: ['skipped'] };
}

/** Why no shutdown snapshot is taken, per rule: its summary key, and the metric for refusals. */
const NOT_TAKEN = {
  abandon: { action: 'abandon-snapshot', key: 'volumes_missing', metric: null },
  'disk-moved': { action: 'refuse-snapshot', key: 'refused_disk_moved', metric: 'disk-moved' },
  'not-owned': { action: 'refuse-snapshot', key: 'volumes_not_owned', metric: 'not-owned' },
} as const;

/** No snapshot for this (reservation, volume), for good: the row records why, the sweep stops asking. */
async function abandon(run: Run, rule: Of<'abandon'> | Of<'refuse'>, deps: SyncDeps): Promise<ActionResult> {
  const { target, reason } = rule;
  const why = NOT_TAKEN[rule.kind === 'refuse' ? rule.cause : 'abandon'];
  const applied = await run.commit(async (db) => {
    const done =
      rule.rowId === null
        ? (await insertShutdownRow(db, toRow(target), 'abandoned', reason, run.now())) !== undefined
        : await abandonRequested(db, rule.rowId, reason, run.now());
    const decision = {
      entityKind: 'volume' as const,
      entityId: target.volumeId,
      action: why.action,
      reason,
      inputs: inputsOf(target, { heldBy: target.heldBy }),
    };
    return { value: done, decisions: done ? [decision] : [] };
  });
  if (!applied) return { outcome: 'skipped' };
  if (why.metric) {
    deps.metrics.actions.inc({ function: FN, kind: why.metric, outcome: 'skipped' });
    run.log.warn(
      { reservationId: target.reservationId, volumeId: target.volumeId, reason },
      'shutdown snapshot refused',
    );
  }
  if (rule.kind === 'refuse' && rule.owner)
    deps.metrics.foreignObjects.inc({ function: FN, kind: 'volume', owner: rule.owner });
  return { outcome: 'applied', counters: [why.key] };
}

const toRow = (target: ShutdownTarget) => ({
  reservation_id: target.reservationId,
  user_id: target.userId,
  disk_name: target.diskName,
  disk_id: target.diskId,
  volume_id: target.volumeId,
});

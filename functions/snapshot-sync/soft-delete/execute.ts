/*
 * Tagging one soft-deleted disk's snapshots: the origin's snapshots found under its tags join our
 * table first (one commit), then CreateTags in batches (a batch with a vanished snapshot is refused
 * whole, so it is retried one by one; a vanished one is forgotten), then the rows and the disk's
 * sync record with its decision (one commit).
 */
import { adoptSnapshots, markTaggedForDeletion, snapshotsOfDisks } from '../../../shared/db/queries/disks.js';
import { markDeleted } from '../../../shared/db/queries/snapshots.js';
import { NotFound } from '../../../shared/errors.js';
import type { ActionResult, Executors } from '../../../shared/runtime/execute.js';
import type { Run } from '../../../shared/runtime/run.js';
import type { DiskSnapshotRow } from '../decide-deletions.js';
import { ec2Call } from '../ec2-calls.js';
import type { SyncDeps } from '../ec2-calls.js';
import { deletionTags } from '../tags.js';
import { pendingAdoption } from './decide.js';
import type { TagStep } from './decide.js';

const IDS_PER_CREATE_TAGS = 100;

export const softDeleteExecutors: Executors<TagStep, SyncDeps> = { 'tag-for-deletion': tagDisk };

async function tagDisk(run: Run, step: TagStep, deps: SyncDeps): Promise<ActionResult> {
  const { rule } = step;
  const adopted =
    step.adopt.length === 0
      ? 0
      : await run.commit(async (db) => ({
          value: (await adoptSnapshots(db, step.owner, step.adopt, run.now())).length,
        }));
  const rows = await withRowIds(deps, rule.diskId, rule.rows);
  const tags = deletionTags(rule.deleteDate, rule.markedDeletedAt);
  const tagged: DiskSnapshotRow[] = [];
  let forgotten = 0;
  for (let i = 0; i < rows.length; i += IDS_PER_CREATE_TAGS) {
    const batch = rows.slice(i, i + IDS_PER_CREATE_TAGS);
    try {
      await ec2Call(deps, (signal) =>
        deps.ec2.createTags(
          batch.map((row) => row.snapshotId),
          tags,
          signal,
        ),
      );
      tagged.push(...batch);
    } catch (err) {
      if (!(err instanceof NotFound)) throw err;
      for (const row of batch) {
        const outcome = await tagOne(run, deps, row, tags);
        if (outcome === 'tagged') tagged.push(row);
        if (outcome === 'forgotten') forgotten += 1;
      }
    }
  }
  await run.commit(async (db) => {
    await markTaggedForDeletion(
      db,
      rule.diskId,
      tagged.map((row) => row.rowId),
      rule.deleteDate,
      run.now(),
    );
    const inputs = { deleteDate: rule.deleteDate, snapshotIds: tagged.map((row) => row.snapshotId) };
    return {
      value: undefined,
      decisions: [
        { entityKind: 'disk' as const, entityId: rule.diskId, action: step.kind, reason: rule.reason, inputs },
      ],
    };
  });
  return {
    outcome: 'applied',
    counters: ['synced_disks'],
    counts: { adopted_snapshots: adopted, tagged_snapshots: tagged.length, snapshots_forgotten: forgotten },
  };
}

/** The rows the rule chose, with the ids the adopted ones got (one read, only after an adoption). */
async function withRowIds(deps: SyncDeps, diskId: string, rows: DiskSnapshotRow[]): Promise<DiskSnapshotRow[]> {
  if (!rows.some((row) => pendingAdoption(row.rowId))) return rows;
  const ids = new Map((await snapshotsOfDisks(deps.pool, [diskId])).map((row) => [row.snapshot_id, row.id]));
  return rows.flatMap((row) => {
    const rowId = pendingAdoption(row.rowId) ? ids.get(row.snapshotId) : row.rowId;
    return rowId === undefined ? [] : [{ ...row, rowId }];
  });
}

/** EC2 no longer has the snapshot: its row is forgotten (a pending one is left to polling). */
async function tagOne(
  run: Run,
  deps: SyncDeps,
  row: DiskSnapshotRow,
  tags: Record<string, string>,
): Promise<'tagged' | 'forgotten' | 'left'> {
  try {
    await ec2Call(deps, (signal) => deps.ec2.createTags([row.snapshotId], tags, signal));
    return 'tagged';
  } catch (err) {
    if (!(err instanceof NotFound)) throw err;
    const reason = 'no longer in EC2 (CreateTags)';
    const gone = await run.commit(async (db) => {
      const forgotten = await markDeleted(db, row.rowId, reason, run.now(), ['completed', 'error']);
      const decision = {
        entityKind: 'snapshot' as const,
        entityId: row.snapshotId,
        action: 'forget-snapshot',
        reason,
        inputs: { rowId: row.rowId },
      };
      return { value: forgotten !== undefined, decisions: forgotten ? [decision] : [] };
    });
    return gone ? 'forgotten' : 'left';
  }
}

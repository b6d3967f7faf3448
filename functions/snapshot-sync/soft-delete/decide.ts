/*
 * Soft-deleted disks' plan, pure: the rule (decideDeletionTags in ../decide-deletions.ts) as one
 * action per disk: adopt the snapshots found under its tags, then tag its untagged snapshots with
 * the disk's delete date. Tagging deletes nothing; the purge (deletions stage) does, after the date.
 */
import type { AdoptedSnapshot } from '../../../shared/db/queries/disks.js';
import type { Action, Plan } from '../../../shared/plan.js';
import { decideDeletionTags } from '../decide-deletions.js';
import type { TagAction } from '../decide-deletions.js';
import type { SoftDeleteLoad } from './load.js';

type Tag = Extract<TagAction, { kind: 'tag' }>;
export type TagStep = Action & {
  kind: 'tag-for-deletion';
  rule: Tag;
  adopt: AdoptedSnapshot[];
  owner: { disk_id: string; user_id: string; disk_name: string };
};

/** A snapshot found under the disk's tags has no row yet: its row id is known once adopted. */
const PENDING_ADOPTION = '';

export function decideSoftDeleteStage(loaded: SoftDeleteLoad): Plan<TagStep> {
  const found = [...loaded.unknown].flatMap(([diskId, snapshots]) =>
    snapshots.map((s) => ({ rowId: PENDING_ADOPTION, diskId, snapshotId: s.snapshotId, deleteAfter: null })),
  );
  const rules = decideDeletionTags(loaded.disks, [...loaded.rows, ...found]);
  const byId = new Map(loaded.disks.map((disk) => [disk.diskId, disk]));
  const steps = rules.flatMap((rule): TagStep[] => {
    if (rule.kind !== 'tag') return [];
    const disk = byId.get(rule.diskId)!;
    const adopt = loaded.unknown.get(rule.diskId) ?? [];
    const snapshotIds = rule.rows.map((row) => row.snapshotId);
    return [
      {
        kind: 'tag-for-deletion',
        rule,
        adopt,
        owner: { disk_id: disk.diskId, user_id: disk.userId, disk_name: disk.diskName },
        entity: { kind: 'disk', id: rule.diskId },
        reason: rule.reason,
        inputs: { deleteDate: rule.deleteDate, snapshotIds, adopt: adopt.map((s) => s.snapshotId) },
        item: {
          action: 'tag-for-deletion',
          diskId: rule.diskId,
          snapshots: snapshotIds.length,
          adopt: adopt.length,
          reason: rule.reason,
        },
      },
    ];
  });
  return { actions: steps, counts: { disks_without_delete_date: rules.length - steps.length } };
}

export const pendingAdoption = (rowId: string): boolean => rowId === PENDING_ADOPTION;

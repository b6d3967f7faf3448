-- snapshot-sync's additions to the snapshots table of 0002: an `abandoned` state for a shutdown
-- whose volume no longer exists (so the sweep stops asking for it), what became of a shutdown
-- snapshot's volume once the snapshot completed, and which soft-deleted disks have had their older
-- snapshots found and tagged for their delete date.

alter table snapshots drop constraint snapshots_state_known;
alter table snapshots add constraint snapshots_state_known
  check (state in ('requested', 'pending', 'completed', 'error', 'deleting', 'deleted', 'abandoned'));
alter table snapshots drop constraint snapshots_pending_has_id;
alter table snapshots add constraint snapshots_pending_has_id
  check (state in ('requested', 'abandoned') or snapshot_id is not null);

-- deleted: we deleted it; gone: it was already gone; kept: never to be deleted by this snapshot
-- (attached again, superseded by a newer reservation, no disk row to check the holder against).
alter table snapshots add column volume_outcome varchar(10)
  constraint snapshots_volume_outcome_known check (volume_outcome in ('deleted', 'gone', 'kept'));
alter table snapshots add column volume_outcome_at timestamptz;
alter table snapshots add constraint snapshots_volume_outcome_has_time
  check ((volume_outcome is null) = (volume_outcome_at is null));

-- Completed shutdown snapshots whose volume is still undecided.
create index snapshots_volume_due on snapshots (completed_at)
  where kind = 'shutdown' and state = 'completed' and volume_outcome is null;
-- "Is there a newer snapshot of this volume?" before deleting it.
create index snapshots_by_volume on snapshots (volume_id, requested_at);
-- Every snapshot of a soft-deleted disk, whatever its state, for tagging.
create index snapshots_by_disk on snapshots (disk_id) where disk_id is not null;
-- Unfinished deletions (a run stopped between DeleteSnapshot and recording it).
create index snapshots_deleting on snapshots (updated_at) where state = 'deleting';
-- "Did a newer reservation use this volume?" before deleting it.
create index reservations_by_volume on reservations (ebs_volume_id, created_at) where ebs_volume_id is not null;
-- The shutdown sweep: teardowns past the snapshot request, most recent first.
create index cleanup_progress_past_snapshot on cleanup_progress (updated_at)
  where step in ('release_disk', 'verify', 'done');

-- A soft-deleted disk whose snapshots (ours and the origin's, found by their tags) were adopted and
-- tagged for this delete date. A new delete date (deleted, restored, deleted again) syncs again.
create table snapshot_disk_sync (
  disk_id     uuid primary key references disks (disk_id) on delete cascade,
  delete_date date not null,
  synced_at   timestamptz not null
);

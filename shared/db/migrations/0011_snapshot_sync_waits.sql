-- snapshot-sync's bounded waits (SPEC 5.11). A shutdown snapshot or a volume deletion that waits on
-- EC2 (a volume creating, attaching, detaching, deleting, in error, or in a state nobody could read)
-- and a disk the origin left backing up that nobody can account for each get a row while the wait
-- lasts: `since` is when it began, so the run can tell a wait that lasts too long and escalate it
-- once (decision log, `escalated_at`) and on every run after (metric, alert) until it ends. The row
-- goes when the wait ends.
create table snapshot_sync_waits (
  wait_key     text primary key,
  entity_kind  varchar(20) not null,
  entity_id    text not null,
  reason       text not null,
  since        timestamptz not null,
  last_seen_at timestamptz not null,
  escalated_at timestamptz
);

-- Cut-over leftovers: disks whose counters say a snapshot is pending. Few at any time, so the
-- reconciliation reads them from this partial index instead of scanning every disk.
create index disks_backing_up on disks (disk_id) where is_backing_up or pending_snapshot_count > 0;

-- "Did the disk move to a newer reservation of the same user?" before a shutdown snapshot.
create index reservations_by_disk on reservations (user_id, disk_name, created_at) where disk_name is not null;

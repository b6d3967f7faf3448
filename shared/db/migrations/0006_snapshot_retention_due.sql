-- snapshot-sync's retention looked for disks with more completed snapshots than it keeps by
-- counting every completed snapshot on every run, so its cost grew with the history, not with
-- what changed. A disk can only go over the count when one of its snapshots completes (or the
-- count is lowered), so each disk with snapshots has a row here: `checked_keep` is the retention
-- count it was last found within, and NULL when a snapshot completed since (set by a trigger, so
-- every writer is covered). Retention reads only the rows that are NULL or were checked against a
-- larger count: one index range read.
create table snapshot_retention (
  disk_id      uuid primary key references disks (disk_id) on delete cascade,
  checked_keep integer constraint snapshot_retention_keep_positive check (checked_keep >= 1)
);

create index snapshot_retention_due on snapshot_retention (checked_keep nulls first);

create function snapshots_track_retention() returns trigger language plpgsql as $$
begin
  if new.state = 'completed' and new.disk_id is not null
     and (tg_op = 'INSERT' or old.state is distinct from 'completed' or old.disk_id is distinct from new.disk_id) then
    insert into snapshot_retention (disk_id, checked_keep) values (new.disk_id, null)
      on conflict (disk_id) do update set checked_keep = null;
  end if;
  return null;
end $$;

create trigger snapshots_track_retention after insert or update of state, disk_id on snapshots
  for each row execute function snapshots_track_retention();

insert into snapshot_retention (disk_id, checked_keep)
  select distinct disk_id, null::integer from snapshots where state = 'completed' and disk_id is not null
  on conflict (disk_id) do nothing;

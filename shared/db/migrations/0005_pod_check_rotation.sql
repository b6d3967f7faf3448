-- expire's pod health check visits active reservations oldest-checked first, a batch per run.
-- Read from reservations, that order meant scanning and sorting every active row on each run, so
-- the cost grew with the fleet. Now every active reservation has its pod_observations row from the
-- moment it becomes active (a trigger, so rows the platform writes are covered too), never-checked
-- rows sort first, and the next batch is one index range read. Leaving 'active' drops the row:
-- the memory of an absent pod only matters while the reservation is active.
alter table pod_observations alter column checked_at drop not null;

create index pod_observations_rotation on pod_observations (checked_at nulls first, reservation_id);
drop index pod_observations_checked_at;

create function reservations_track_pod_check() returns trigger language plpgsql as $$
begin
  if new.status = 'active' and (tg_op = 'INSERT' or old.status is distinct from 'active') then
    insert into pod_observations (reservation_id, checked_at) values (new.reservation_id, null)
      on conflict (reservation_id) do nothing;
  elsif tg_op = 'UPDATE' and old.status = 'active' and new.status is distinct from 'active' then
    delete from pod_observations where reservation_id = new.reservation_id;
  end if;
  return null;
end $$;

create trigger reservations_track_pod_check after insert or update of status on reservations
  for each row execute function reservations_track_pod_check();

insert into pod_observations (reservation_id, checked_at)
  select reservation_id, null from reservations where status = 'active'
  on conflict (reservation_id) do nothing;

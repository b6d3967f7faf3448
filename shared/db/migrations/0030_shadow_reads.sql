-- Shadow mode at fleet scale. A shadow run records a decision about an entity only when it differs
-- from the entity's latest shadow decision of the same function (or that one has grown old): the
-- writer reads that latest decision per entity of its batch, and the shadow report reads an
-- entity's decisions, through this index.
create index decision_log_shadow_entity on decision_log (function, entity_kind, entity_id, decided_at desc)
  where outcome = 'shadow';

-- The shadow report's "they acted" reads: the rows the origin touched in the window, by the column
-- it writes when it does (a warning, an OOM kill, a disk release). Without these each was a scan of
-- the whole table (reservations at 100k: 150-300 ms each). Partial: most rows carry none.
create index reservations_last_warning_time on reservations (last_warning_time) where last_warning_time is not null;
create index reservations_last_oom_at on reservations (last_oom_at) where last_oom_at is not null;
create index disks_released_last_used on disks (last_used) where not in_use and reservation_id is null;

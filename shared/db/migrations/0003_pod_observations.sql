-- expire's memory between runs of what the cluster said about each active reservation's pod: when
-- it was last checked (the scheduled health check rotates through the fleet oldest-first, so each
-- run's work is bounded) and since when the pod has been definitely absent (a 404 for its name).
-- Two absent observations at least a minute apart are needed before "pod gone" ends a reservation.
create table pod_observations (
  reservation_id varchar(255) primary key references reservations (reservation_id) on delete cascade,
  checked_at     timestamptz not null,
  absent_since   timestamptz,
  last_error     text
);

create index pod_observations_checked_at on pod_observations (checked_at);
create index pod_observations_absent on pod_observations (absent_since) where absent_since is not null;

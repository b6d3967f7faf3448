-- Events that can never be delivered stop being retried: they wait in a dead-letter state, with
-- the reason, until an operator requeues them (README "Event outbox"). A dead row is neither
-- delivered nor due, so it leaves the backlog and shows up in the dead-letter gauge instead.
alter table event_outbox
  add column dead_at     timestamptz,
  add column dead_reason varchar(20)
    constraint event_outbox_dead_reason_known check (dead_reason in ('rejected', 'unencodable', 'exhausted')),
  add constraint event_outbox_dead_has_reason check ((dead_at is null) = (dead_reason is null)),
  add constraint event_outbox_dead_or_delivered check (dead_at is null or delivered_at is null);

-- The delivery sweep reads due rows only; dead rows drop out of its index.
create index event_outbox_due on event_outbox (available_at) where delivered_at is null and dead_at is null;
drop index event_outbox_undelivered;
create index event_outbox_dead on event_outbox (dead_at) where dead_at is not null;

-- A run killed without a chance to close its row (SIGKILL, OOM, node loss) is closed by a later
-- run of the same function as `abandoned` once its budget and a margin have passed.
alter table function_runs
  drop constraint function_runs_outcome_known,
  add constraint function_runs_outcome_known
    check (outcome in ('running', 'succeeded', 'failed', 'skipped', 'accepted', 'abandoned'));

create index function_runs_running on function_runs (function, started_at) where outcome = 'running';

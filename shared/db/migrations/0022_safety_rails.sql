-- Operator safety rails (the blast-radius breaker, clock sanity, shadow mode).
-- A run that refused to act ends `halted`; a decision withheld by a rail is logged `halted`, one
-- taken in shadow mode `shadow`; rails and overrides about a whole function log the function itself.
alter table function_runs
  drop constraint function_runs_outcome_known,
  add constraint function_runs_outcome_known
    check (outcome in ('running', 'succeeded', 'failed', 'skipped', 'accepted', 'abandoned', 'halted'));

alter table decision_log
  drop constraint decision_log_outcome_known,
  add constraint decision_log_outcome_known
    check (outcome in ('applied', 'dry_run', 'conflict', 'skipped', 'failed', 'halted', 'shadow')),
  drop constraint decision_log_entity_kind_known,
  add constraint decision_log_entity_kind_known
    check (entity_kind in ('reservation', 'lab', 'disk', 'snapshot', 'pod', 'volume', 'function'));

-- The breaker's recent-runs rule sums the destructive actions of a function's runs in a window.
create index function_runs_destructive on function_runs (function, started_at desc) where counts ? 'destructive';

-- An operator's explicit permission for one function to act past the breaker, until it expires.
create table breaker_overrides (
  id          bigint generated always as identity primary key,
  function    varchar(64) not null,
  reason      text not null constraint breaker_overrides_reason_given check (length(trim(reason)) > 0),
  created_by  varchar(255),
  created_at  timestamptz not null,
  expires_at  timestamptz not null,
  constraint breaker_overrides_expire_after_creation check (expires_at > created_at)
);

create index breaker_overrides_live on breaker_overrides (function, expires_at desc);

-- The shadow report reads a window of shadow decisions.
create index decision_log_shadow on decision_log (function, decided_at) where outcome = 'shadow';

-- devenv-lifecycle's own state: sweep indexes on the origin tables, the warning ledger, snapshots
-- by id, OOM kills, cleanup progress, the event outbox and inbox, function runs and the decision log.

-- warn and expire: active reservations by deadline (NULL deadlines sort last and are counted).
create index reservations_active_expires_at on reservations (expires_at) where status = 'active';
-- expire: stuck preparing and stale queued/pending, anchored on when they entered that state (A-13).
create index reservations_waiting_since on reservations (status, status_changed_at)
  where status in ('queued', 'pending', 'preparing');
-- cleanup-pod sweep: terminal reservations, most recent first.
create index reservations_terminal_since on reservations (status_changed_at)
  where status in ('expired', 'cancelled', 'failed');

-- One row per (reservation, deadline, level). Keyed on the deadline, so an extension (a new
-- expires_at) re-arms every level without anyone having to reset anything (A-3).
create table warning_ledger (
  reservation_id varchar(255) not null references reservations (reservation_id) on delete cascade,
  expires_at     timestamptz not null,
  level_minutes  integer not null constraint warning_ledger_level_positive check (level_minutes > 0),
  state          varchar(10) not null constraint warning_ledger_state_known check (state in ('sent', 'failed')),
  attempts       integer not null default 1 constraint warning_ledger_attempts_positive check (attempts > 0),
  last_error     text,
  minutes_left   integer constraint warning_ledger_minutes_left_non_negative check (minutes_left >= 0),
  first_attempt_at timestamptz not null,
  sent_at        timestamptz,
  webhook_state  varchar(10) constraint warning_ledger_webhook_state_known
    check (webhook_state in ('pending', 'sent', 'failed')),
  webhook_attempts integer not null default 0,
  primary key (reservation_id, expires_at, level_minutes),
  constraint warning_ledger_sent_has_time check ((state = 'sent') = (sent_at is not null))
);

create index warning_ledger_webhook_pending on warning_ledger (first_attempt_at)
  where webhook_state in ('pending', 'failed');

-- Snapshots by id (A-10). The row is written before CreateSnapshot (state 'requested', no
-- snapshot_id yet) and reconciled after; request_token is also a tag on the snapshot, so a retry
-- after a crash finds the snapshot by its tag instead of making a second one (A-12).
create table snapshots (
  id             bigint generated always as identity primary key,
  snapshot_id    varchar(64) unique,
  request_token  uuid not null unique default gen_random_uuid(),
  kind           varchar(20) not null default 'shutdown' constraint snapshots_kind_known check (kind in ('shutdown', 'adopted')),
  reservation_id varchar(255) references reservations (reservation_id) on delete set null,
  volume_id      varchar(64) not null,
  disk_id        uuid references disks (disk_id) on delete set null,
  user_id        varchar(255) not null,
  disk_name      varchar(255),
  state          varchar(12) not null
    constraint snapshots_state_known
    check (state in ('requested', 'pending', 'completed', 'error', 'deleting', 'deleted')),
  size_gb        integer constraint snapshots_size_non_negative check (size_gb >= 0),
  requested_at   timestamptz not null,
  started_at     timestamptz,
  completed_at   timestamptz,
  delete_after   date,
  deleted_at     timestamptz,
  counted_on_disk boolean not null default false,
  last_error     text,
  updated_at     timestamptz not null default now(),
  constraint snapshots_pending_has_id check (state = 'requested' or snapshot_id is not null)
);

-- One shutdown snapshot per (reservation, volume): the idempotency key of snapshot-sync.
create unique index snapshots_shutdown_once on snapshots (reservation_id, volume_id)
  where kind = 'shutdown' and reservation_id is not null;
-- snapshot-sync: poll only pending snapshots; reconcile requested ones left by a crash.
create index snapshots_pending on snapshots (requested_at) where state in ('requested', 'pending');
-- retention per disk: newest completed first.
create index snapshots_disk_completed on snapshots (disk_id, completed_at desc) where state = 'completed';
-- soft-delete purge.
create index snapshots_delete_after on snapshots (delete_after) where delete_after is not null and state = 'completed';

-- Each OOM kill exactly once, keyed by (pod uid, container, restart count) (A-15).
create table oom_kills (
  pod_uid        varchar(64) not null,
  container      varchar(255) not null,
  restart_count  integer not null constraint oom_kills_restart_count_non_negative check (restart_count >= 0),
  reservation_id varchar(255) not null references reservations (reservation_id) on delete cascade,
  pod_name       varchar(255) not null,
  namespace      varchar(255) not null,
  finished_at    timestamptz,
  detected_at    timestamptz not null,
  detected_by    varchar(10) not null constraint oom_kills_detected_by_known check (detected_by in ('event', 'scan')),
  notice_state   varchar(10) not null default 'pending'
    constraint oom_kills_notice_state_known check (notice_state in ('pending', 'sent', 'failed', 'skipped')),
  notice_attempts integer not null default 0,
  last_error     text,
  primary key (pod_uid, container, restart_count)
);

create index oom_kills_reservation on oom_kills (reservation_id, detected_at desc);
create index oom_kills_notice_pending on oom_kills (detected_at) where notice_state in ('pending', 'failed');

-- Resumable per-reservation teardown (cleanup-pod). Claimed with a committed lease, advanced one
-- idempotent step at a time, so a run may stop anywhere and the next one continues.
create table cleanup_progress (
  reservation_id   varchar(255) primary key references reservations (reservation_id) on delete cascade,
  step             varchar(20) not null
    constraint cleanup_progress_step_known
    check (step in ('delete_resources', 'await_gone', 'await_detach', 'request_snapshot',
                    'release_disk', 'verify', 'done')),
  volume_id        varchar(64),
  attempts         integer not null default 0 constraint cleanup_progress_attempts_non_negative check (attempts >= 0),
  last_error       text,
  lease_owner      varchar(255),
  lease_expires_at timestamptz,
  next_attempt_at  timestamptz not null,
  started_at       timestamptz not null,
  updated_at       timestamptz not null,
  completed_at     timestamptz,
  constraint cleanup_progress_lease_complete check ((lease_owner is null) = (lease_expires_at is null)),
  constraint cleanup_progress_done_has_time check ((step = 'done') = (completed_at is not null))
);

-- cleanup-pod sweep: unfinished teardowns that are due.
create index cleanup_progress_due on cleanup_progress (next_attempt_at) where step <> 'done';

-- Events written in the same transaction as the state change, delivered after commit, redelivered
-- with backoff by later runs. One row per destination (a consumer function, or the Knative sink),
-- so a delivery that failed for one consumer is retried for that one only.
create table event_outbox (
  id               bigint generated always as identity primary key,
  event_id         uuid not null,
  destination      varchar(255) not null,
  type             varchar(255) not null,
  source           varchar(255) not null,
  subject          varchar(255),
  data             jsonb not null,
  traceparent      varchar(64),
  created_at       timestamptz not null,
  available_at     timestamptz not null,
  attempts         integer not null default 0 constraint event_outbox_attempts_non_negative check (attempts >= 0),
  lease_owner      varchar(255),
  lease_expires_at timestamptz,
  delivered_at     timestamptz,
  last_error       text,
  constraint event_outbox_event_destination_unique unique (event_id, destination),
  constraint event_outbox_lease_complete check ((lease_owner is null) = (lease_expires_at is null))
);

create index event_outbox_undelivered on event_outbox (available_at) where delivered_at is null;

-- Consumers are idempotent on the CloudEvent (source, id), per consuming function.
create table event_inbox (
  consumer     varchar(64) not null,
  source       varchar(255) not null,
  event_id     varchar(255) not null,
  type         varchar(255) not null,
  processed_at timestamptz not null,
  primary key (consumer, source, event_id)
);

create index event_inbox_processed_at on event_inbox (processed_at);

-- One row per invocation: what ran, why, and how it ended.
create table function_runs (
  id           uuid primary key,
  function     varchar(64) not null,
  trigger      varchar(20) not null constraint function_runs_trigger_known check (trigger in ('schedule', 'manual', 'event')),
  call_id      varchar(255),
  event_id     varchar(255),
  event_type   varchar(255),
  dry_run      boolean not null default false,
  started_at   timestamptz not null,
  finished_at  timestamptz,
  outcome      varchar(12) not null default 'running'
    constraint function_runs_outcome_known check (outcome in ('running', 'succeeded', 'failed', 'skipped', 'accepted')),
  counts       jsonb not null default '{}'::jsonb,
  error        text,
  constraint function_runs_finished_after_start check (finished_at is null or finished_at >= started_at),
  constraint function_runs_running_unfinished check ((outcome = 'running') = (finished_at is null))
);

create index function_runs_recent on function_runs (function, started_at desc);

-- Append-only: what was decided about which entity, why, with the inputs, and the outcome.
create table decision_log (
  id          bigint generated always as identity primary key,
  decided_at  timestamptz not null,
  run_id      uuid,
  function    varchar(64) not null,
  entity_kind varchar(20) not null
    constraint decision_log_entity_kind_known check (entity_kind in ('reservation', 'lab', 'disk', 'snapshot', 'pod', 'volume')),
  entity_id   varchar(255) not null,
  action      varchar(64) not null,
  reason      text not null,
  inputs      jsonb not null default '{}'::jsonb,
  outcome     varchar(12) not null
    constraint decision_log_outcome_known check (outcome in ('applied', 'dry_run', 'conflict', 'skipped', 'failed')),
  error       text
);

create index decision_log_entity on decision_log (entity_kind, entity_id, decided_at desc);
create index decision_log_run on decision_log (run_id) where run_id is not null;

create function decision_log_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'decision_log is append-only (% refused)', tg_op using errcode = 'insufficient_privilege';
end $$;

create trigger decision_log_append_only before update or delete on decision_log
  for each row execute function decision_log_append_only();

-- Acting on a warning (the extend function): extend, snooze, end now.

-- Each action token that acted, by its jti: the single-use key. A second use of the same link is
-- answered 409 and changes nothing. Rows are kept until the token has expired (after that the
-- signature check alone refuses it), then pruned by the function's schedule.
create table action_tokens (
  jti            varchar(100) primary key,
  reservation_id varchar(255) not null references reservations (reservation_id) on delete cascade,
  action         varchar(10) not null constraint action_tokens_action_known check (action in ('extend', 'snooze', 'end-now')),
  channel        varchar(10) not null constraint action_tokens_channel_known check (channel in ('link', 'slack')),
  outcome        varchar(10) not null constraint action_tokens_outcome_known check (outcome in ('extended', 'snoozed', 'ended')),
  used_at        timestamptz not null,
  token_expires_at timestamptz not null
);

create index action_tokens_expiry on action_tokens (token_expires_at);

-- Extensions per reservation, for the policy (how many, and the deadline before the first one).
create table reservation_extensions (
  reservation_id      varchar(255) primary key references reservations (reservation_id) on delete cascade,
  original_expires_at timestamptz not null,
  extensions          integer not null constraint reservation_extensions_count_positive check (extensions > 0),
  extended_minutes    integer not null constraint reservation_extensions_minutes_positive check (extended_minutes > 0),
  last_extended_at    timestamptz not null
);

-- A snooze writes the remaining levels of that deadline into warn's ledger as sent, so warn skips
-- them with no special case; the ledger is keyed by deadline, so a later extension re-arms them.
-- snoozed_at tells those rows from delivered warnings.
alter table warning_ledger add column snoozed_at timestamptz;

-- The capacity rule: waiting reservations per GPU type (the origin's (gpu_type, status) index
-- serves the count; this one serves "when does a GPU of this type free up").
create index reservations_active_by_gpu_type on reservations (gpu_type, expires_at) where status = 'active';

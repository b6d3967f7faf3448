-- oom-scan's two notice channels, the file in the pod and the optional webhook. Each write is
-- claimed with a short lease before it is made, so runs at the same time (one per pod event, plus
-- the scan) never send the same notice twice; a run that dies mid-send leaves a lease that expires,
-- and a later run retries. webhook_state is null when no webhook was configured at the kill.
alter table oom_kills
  add column notice_lease_until timestamptz,
  add column webhook_state varchar(10) constraint oom_kills_webhook_state_known check (webhook_state in ('pending', 'sent', 'failed')),
  add column webhook_attempts integer not null default 0 constraint oom_kills_webhook_attempts_non_negative check (webhook_attempts >= 0),
  add column webhook_lease_until timestamptz;

create index oom_kills_webhook_pending on oom_kills (detected_at) where webhook_state in ('pending', 'failed');

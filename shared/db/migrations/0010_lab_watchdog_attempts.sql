-- ending-watchdog no longer ends a lab on ambiguous evidence (an API error, a listing that could
-- not verify the teardown, resources still there): the lab stays ENDING and is retried by later
-- runs. These columns count those attempts durably, so an alert can fire after a configured number
-- (WATCHDOG_UNKNOWN_ATTEMPTS_ALERT), and let the selection visit the least recently tried labs
-- first, so a few labs that never verify cannot hold every slot of every run.
alter table labs
  add column watchdog_unknown_attempts integer not null default 0,
  add column watchdog_attempted_at     timestamptz,
  add column watchdog_last_error       text;

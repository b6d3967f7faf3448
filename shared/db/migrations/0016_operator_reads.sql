-- Operator reads: fleet gauges served by pod-watch on every scrape and the `why` timeline. Each
-- gauge reads one index range over what is live (not over the history), so a scrape costs the
-- same at 100,000 reservations as at 100.

-- Warning lateness: only the ledger rows sent since the last collection.
create index warning_ledger_sent_at on warning_ledger (sent_at) where state = 'sent';
-- Last successful run per function: the newest row of each function among the succeeded ones
-- (function_runs_recent would walk back over every failed run in between).
create index function_runs_succeeded on function_runs (function, finished_at desc) where outcome = 'succeeded';
-- Halted runs (the blast-radius breaker's outcome, allowed by a later migration): few, read whole.
create index function_runs_halted on function_runs (function, started_at desc) where outcome = 'halted';
-- `why <reservation>`: every snapshot of a reservation, shutdown or adopted.
create index snapshots_by_reservation on snapshots (reservation_id) where reservation_id is not null;

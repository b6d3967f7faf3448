-- warn writes a claim before it delivers: the ledger row for (reservation, deadline, level) goes to
-- 'sending' first, with the time of the claim. Only the run whose claim won delivers (two
-- overlapping runs no longer both write the file and broadcast), and a run killed between the
-- exec and its record leaves the claim behind instead of nothing, so the level is not delivered a
-- second time. A claim older than a run can last is settled as sent: at most once per level.
alter table warning_ledger drop constraint warning_ledger_state_known;
alter table warning_ledger add constraint warning_ledger_state_known check (state in ('sending', 'sent', 'failed'));
alter table warning_ledger add column claimed_at timestamptz;

create index warning_ledger_claims on warning_ledger (claimed_at) where state = 'sending';

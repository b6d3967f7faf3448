-- warn's webhook notice is claimed ('sending') before it is posted and marked after, so a run
-- killed between the post and its mark leaves the claim behind instead of a 'pending' row that a
-- later run would post a second time: the webhook is sent at most once (SPEC 2.1). The pod file,
-- by contrast, is delivered again after a killed run (claims are no longer settled as sent).
alter table warning_ledger drop constraint warning_ledger_webhook_state_known;
alter table warning_ledger add constraint warning_ledger_webhook_state_known
  check (webhook_state in ('pending', 'sending', 'sent', 'failed'));

-- Events the Knative Broker gave up on (its retries spent, or refused with a 4xx) arrive at the
-- dead-letter sink and are kept in the outbox's dead-letter state, beside the outbox's own dead
-- letters: one `runs` listing, one gauge and one alert cover both, and `requeue-events` sends
-- either kind back through K_SINK. An event the product published already has its 'sink' row
-- (delivered to the Broker); that row turns dead. A pod event has none; it gets one.
alter table event_outbox
  drop constraint event_outbox_dead_reason_known,
  add constraint event_outbox_dead_reason_known check (dead_reason in ('rejected', 'unencodable', 'exhausted', 'knative'));

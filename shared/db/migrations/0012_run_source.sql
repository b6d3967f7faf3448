-- Which scheduler fired a scheduled run (cron-connector or pingsource), who called a manual one
-- (the CLI in process, or the HTTP caller's user agent), and which producer sent an event: both
-- schedulers record trigger = 'schedule', and an operator needs to tell them apart.
alter table function_runs add column source text;

-- oom-scan: a notice write is claimed with a short lease before the exec, so runs at the same time
-- (one per pod event, plus the scan) never write the same notice twice; a run that dies mid-write
-- leaves a lease that expires, and a later run retries.
alter table oom_kills add column notice_lease_until timestamptz;

-- expire reports, every run, the active reservations that have no deadline (it skips them). The
-- partial index holds only those rows (normally none), in the order the report lists them: the read
-- stays an empty index range at any fleet size.
create index reservations_active_without_deadline on reservations (reservation_id)
  where status = 'active' and expires_at is null;

-- Short action links: /a/<12-character id> stands for one signed action token, so the file in the
-- pod and a chat line carry a URL a person can read and copy. The id is random (72 bits from the
-- system's CSPRNG) and says nothing; the row holds the token and what it was issued for. The token
-- still decides everything (signature, expiry, single use through action_tokens); a row only
-- resolves the id. Rows are pruned a day after the token expires, with the used tokens.
create table action_links (
  short_id       varchar(16) primary key constraint action_links_short_id_shape check (short_id ~ '^[A-Za-z0-9_-]{12}$'),
  token          text not null,
  reservation_id varchar(255) not null references reservations (reservation_id) on delete cascade,
  action         varchar(10) not null constraint action_links_action_known check (action in ('extend', 'snooze', 'end-now')),
  deadline       timestamptz not null,
  expires_at     timestamptz not null,
  created_at     timestamptz not null
);

create index action_links_expiry on action_links (expires_at);

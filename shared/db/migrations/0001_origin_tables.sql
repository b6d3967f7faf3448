-- The origin-compatible tables: reservations and disks (GPU dev servers), labs and
-- port_reservations (OctoLab). Column names match the systems we replace so the platform API and
-- CLI that share the database keep working. Added by us: status_changed_at and ending_since,
-- maintained by triggers so writers outside this product are covered too.

create table reservations (
  reservation_id          varchar(255) primary key,
  user_id                 varchar(255) not null,
  github_user             varchar(255),
  name                    varchar(255),
  status                  varchar(50) not null
    constraint reservations_status_known
    check (status in ('queued', 'pending', 'preparing', 'active', 'expired', 'cancelled', 'failed')),
  created_at              timestamptz not null default now(),
  launched_at             timestamptz,
  expires_at              timestamptz,
  updated_at              timestamptz not null default now(),
  status_changed_at       timestamptz not null default now(),
  duration_hours          double precision not null default 0
    constraint reservations_duration_non_negative check (duration_hours >= 0),
  failure_reason          text,
  current_detailed_status text,
  status_history          jsonb not null default '[]'::jsonb,
  gpu_type                varchar(50),
  gpu_count               integer constraint reservations_gpu_count_non_negative check (gpu_count >= 0),
  pod_name                varchar(255),
  -- No default: the origin defaulted to 'default' and then looked for pods in the wrong namespace
  -- (A-23). A NULL namespace means "the configured reservation namespace".
  namespace               varchar(255),
  node_ip                 varchar(64),
  node_port               integer,
  node_private_ip         varchar(64),
  ssh_command             text,
  domain_name             varchar(255),
  fqdn                    varchar(255),
  alb_config              jsonb,
  jupyter_enabled         boolean not null default false,
  jupyter_url             text,
  jupyter_port            integer,
  ebs_volume_id           varchar(64),
  disk_name               varchar(255),
  ebs_availability_zone   varchar(64),
  is_multinode            boolean not null default false,
  master_reservation_id   varchar(255),
  node_index              integer,
  total_nodes             integer,
  oom_count               integer not null default 0
    constraint reservations_oom_count_non_negative check (oom_count >= 0),
  last_oom_at             timestamptz,
  oom_container           varchar(255),
  warnings_sent           jsonb default '{}'::jsonb,
  last_warning_time       bigint,
  failed_at               timestamptz,
  cancelled_at            timestamptz,
  reservation_ended       timestamptz
);

create index reservations_user_status on reservations (user_id, status);
create index reservations_created_at on reservations (created_at desc);

create table disks (
  disk_id                    uuid primary key default gen_random_uuid(),
  user_id                    varchar(255) not null,
  disk_name                  varchar(255) not null,
  size_gb                    integer constraint disks_size_non_negative check (size_gb >= 0),
  disk_size                  text,
  in_use                     boolean not null default false,
  -- The current holder. Releasing a disk is a compare-and-set on this column (origin bug A-4).
  reservation_id             varchar(255) references reservations (reservation_id) on delete set null,
  last_used                  timestamptz,
  is_backing_up              boolean not null default false,
  pending_snapshot_count     integer not null default 0
    constraint disks_pending_snapshot_count_non_negative check (pending_snapshot_count >= 0),
  snapshot_count             integer not null default 0
    constraint disks_snapshot_count_non_negative check (snapshot_count >= 0),
  last_snapshot_at           timestamptz,
  latest_snapshot_content_s3 text,
  ebs_volume_id              varchar(64),
  is_deleted                 boolean not null default false,
  delete_date                date,
  marked_deleted_at          timestamptz,
  operation_id               varchar(255),
  operation_type             varchar(50),
  operation_status           varchar(50),
  operation_error            text,
  created_at                 timestamptz not null default now(),
  last_updated               timestamptz not null default now(),
  constraint disks_user_disk_name_unique unique (user_id, disk_name)
);

create index disks_holder on disks (reservation_id) where reservation_id is not null;
create index disks_soft_deleted on disks (delete_date) where is_deleted;

create table labs (
  id                    uuid primary key,
  owner_id              uuid not null,
  recipe_id             uuid,
  status                varchar(50) not null
    constraint labs_status_known
    check (status in ('requested', 'provisioning', 'ready', 'degraded', 'ending', 'finished', 'failed')),
  requested_intent      jsonb,
  namespace             varchar(255),
  finished_at           timestamptz,
  expires_at            timestamptz,
  connection_url        text,
  hackvm_project        varchar(255),
  evidence_expires_at   timestamptz,
  evidence_deleted_at   timestamptz,
  novnc_host_port       integer constraint labs_novnc_port_range check (novnc_host_port between 1 and 65535),
  runtime               varchar(20) not null default 'firecracker'
    constraint labs_runtime_known check (runtime in ('compose', 'firecracker', 'k8s', 'noop')),
  runtime_meta          jsonb,
  created_at            timestamptz not null default now(),
  updated_at            timestamptz not null default now(),
  status_changed_at     timestamptz not null default now(),
  -- When the lab last entered ENDING: the watchdog's age anchor (origin bug B-6 used updated_at).
  ending_since          timestamptz,
  -- A committed lease instead of a row lock held while working (origin bug B-1).
  claimed_by            varchar(255),
  claim_expires_at      timestamptz,
  constraint labs_claim_complete check ((claimed_by is null) = (claim_expires_at is null))
);

create index labs_owner on labs (owner_id);
create unique index labs_novnc_host_port_unique on labs (novnc_host_port) where novnc_host_port is not null;
-- ending-watchdog: labs in ENDING, oldest first.
create index labs_ending_since on labs (ending_since) where status = 'ending';

create table port_reservations (
  id          bigint generated always as identity primary key,
  lab_id      uuid not null references labs (id) on delete cascade,
  kind        varchar(20) not null default 'novnc',
  port        integer not null constraint port_reservations_port_range check (port between 1 and 65535),
  reserved_at timestamptz not null default now(),
  released_at timestamptz
);

create unique index port_reservations_active_port on port_reservations (kind, port) where released_at is null;
create index port_reservations_lab on port_reservations (lab_id) where released_at is null;

-- Status triggers. A writer that sets status_changed_at / ending_since itself (this product binds
-- the time from its clock) keeps its value; any other writer gets the transaction time.
create function reservations_track_status() returns trigger language plpgsql as $$
begin
  if tg_op = 'UPDATE' then
    new.updated_at := now();
    if new.status is distinct from old.status
       and new.status_changed_at is not distinct from old.status_changed_at then
      new.status_changed_at := now();
    end if;
  end if;
  return new;
end $$;

create trigger reservations_track_status before update on reservations
  for each row execute function reservations_track_status();

create function labs_track_status() returns trigger language plpgsql as $$
begin
  if tg_op = 'INSERT' then
    if new.status = 'ending' and new.ending_since is null then
      new.ending_since := new.status_changed_at;
    end if;
    return new;
  end if;
  new.updated_at := now();
  if new.status is distinct from old.status then
    if new.status_changed_at is not distinct from old.status_changed_at then
      new.status_changed_at := now();
    end if;
    if new.status = 'ending' and new.ending_since is not distinct from old.ending_since then
      new.ending_since := new.status_changed_at;
    end if;
  end if;
  return new;
end $$;

create trigger labs_track_status before insert or update on labs
  for each row execute function labs_track_status();

-- The origin's disks trigger: last_updated on every write; marked_deleted_at set and cleared as
-- is_deleted flips.
create function disks_track_changes() returns trigger language plpgsql as $$
begin
  new.last_updated := now();
  if new.is_deleted and not old.is_deleted and new.marked_deleted_at is null then
    new.marked_deleted_at := now();
  elsif not new.is_deleted and old.is_deleted then
    new.marked_deleted_at := null;
  end if;
  return new;
end $$;

create trigger disks_track_changes before update on disks
  for each row execute function disks_track_changes();

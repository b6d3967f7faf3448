-- oom-scan's place in its pass over the fleet's pods. A run reads a fixed number of pages and
-- leaves the next read here (a namespace and the continue token within it, null for its start),
-- so the next run resumes where this one stopped and every pod is scanned within a stated number
-- of runs whatever the fleet's size. One row; absent until the first scan.
create table oom_scan_cursor (
  singleton boolean primary key default true check (singleton),
  namespace text not null,
  continue_token text,
  pass_started_at timestamptz not null,
  passes_completed integer not null default 0,
  updated_at timestamptz not null
);

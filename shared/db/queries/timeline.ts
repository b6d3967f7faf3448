/*
 * The reads behind `devenv-lifecycle why <id>`: everything recorded about one reservation or lab,
 * one bounded, indexed query per source. Rows come back as stored; local/why.ts turns them into
 * the timeline (pure) and masks the ids of people there.
 */
import type { Db } from '../pool.js';

/** Rows read per source at most: a story longer than this is cut, and says so. */
export const TIMELINE_SOURCE_LIMIT = 200;

export interface ReservationFacts {
  reservation_id: string;
  user_id: string;
  status: string;
  created_at: Date;
  launched_at: Date | null;
  expires_at: Date | null;
  status_changed_at: Date;
  pod_name: string | null;
  namespace: string | null;
  ebs_volume_id: string | null;
  disk_name: string | null;
  failure_reason: string | null;
}

export interface LabFacts {
  id: string;
  owner_id: string;
  status: string;
  namespace: string | null;
  created_at: Date;
  expires_at: Date | null;
  ending_since: Date | null;
  finished_at: Date | null;
  watchdog_unknown_attempts: number;
  watchdog_attempted_at: Date | null;
  watchdog_last_error: string | null;
}

export interface DecisionFact {
  id: string;
  decided_at: Date;
  run_id: string | null;
  function: string;
  entity_kind: string;
  entity_id: string;
  action: string;
  reason: string;
  inputs: Record<string, unknown>;
  outcome: string;
  error: string | null;
}

export interface WarningFact {
  expires_at: Date;
  level_minutes: number;
  state: string;
  attempts: number;
  last_error: string | null;
  minutes_left: number | null;
  first_attempt_at: Date;
  sent_at: Date | null;
  webhook_state: string | null;
}

export interface ObservationFact {
  checked_at: Date | null;
  absent_since: Date | null;
  last_error: string | null;
}

export interface TeardownFact {
  step: string;
  volume_id: string | null;
  attempts: number;
  last_error: string | null;
  started_at: Date;
  updated_at: Date;
  completed_at: Date | null;
}

export interface SnapshotFact {
  snapshot_id: string | null;
  kind: string;
  volume_id: string;
  disk_id: string | null;
  user_id: string;
  state: string;
  requested_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  deleted_at: Date | null;
  volume_outcome: string | null;
  volume_outcome_at: Date | null;
  last_error: string | null;
}

export interface DiskFact {
  disk_id: string;
  user_id: string;
  disk_name: string;
  in_use: boolean;
  reservation_id: string | null;
  last_used: Date | null;
  is_deleted: boolean;
  marked_deleted_at: Date | null;
}

export interface OomFact {
  container: string;
  restart_count: number;
  pod_name: string;
  finished_at: Date | null;
  detected_at: Date;
  detected_by: string;
  notice_state: string;
}

export interface RunFact {
  id: string;
  function: string;
  trigger: string;
  source: string | null;
  started_at: Date;
  finished_at: Date | null;
  outcome: string;
}

export interface TimelineSources {
  id: string;
  reservation?: ReservationFacts;
  lab?: LabFacts;
  decisions: DecisionFact[];
  warnings: WarningFact[];
  observation?: ObservationFact;
  teardown?: TeardownFact;
  snapshots: SnapshotFact[];
  disks: DiskFact[];
  oomKills: OomFact[];
  runs: RunFact[];
  /** Sources that held more rows than were read. */
  truncated: string[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Everything recorded about `id` as a reservation or a lab, each source read once and bounded. */
export async function loadTimeline(db: Db, id: string, limit = TIMELINE_SOURCE_LIMIT): Promise<TimelineSources> {
  const read = <R extends object>(sql: string, params: unknown[]) =>
    db.query<R>(sql, [...params, limit + 1]).then((r) => r.rows);
  const [reservation, lab, own] = await Promise.all([
    read<ReservationFacts>(
      `select reservation_id, user_id, status, created_at, launched_at, expires_at, status_changed_at, pod_name,
       namespace, ebs_volume_id, disk_name, failure_reason from reservations where reservation_id = $1 limit $2`,
      [id],
    ),
    UUID.test(id)
      ? read<LabFacts>(
          `select id, owner_id, status, namespace, created_at, expires_at, ending_since, finished_at,
           watchdog_unknown_attempts, watchdog_attempted_at, watchdog_last_error from labs where id = $1::uuid limit $2`,
          [id],
        )
      : Promise.resolve([]),
    decisionsAbout(
      db,
      [
        ['reservation', id],
        ['lab', id],
      ],
      new Date(0),
      limit + 1,
    ),
  ]);
  const sources: TimelineSources = {
    id,
    reservation: reservation[0],
    lab: lab[0],
    decisions: own,
    warnings: [],
    snapshots: [],
    disks: [],
    oomKills: [],
    runs: [],
    truncated: [],
  };
  if (sources.reservation) await addReservationSources(db, sources.reservation, sources, read, limit);
  const runIds = [
    ...new Set(sources.decisions.map((d) => d.run_id).filter((runId): runId is string => runId !== null)),
  ];
  sources.runs =
    runIds.length === 0
      ? []
      : await read<RunFact>(
          `select id, function, trigger, source, started_at, finished_at, outcome from function_runs where id = any($1::uuid[]) limit $2`,
          [runIds],
        );
  return bound(sources, limit);
}

type Read = <R extends object>(sql: string, params: unknown[]) => Promise<R[]>;

async function addReservationSources(
  db: Db,
  r: ReservationFacts,
  into: TimelineSources,
  read: Read,
  limit: number,
): Promise<void> {
  const id = r.reservation_id;
  const [warnings, observation, teardown, snapshots, disks, oomKills] = await Promise.all([
    read<WarningFact>(
      `select expires_at, level_minutes, state, attempts, last_error, minutes_left, first_attempt_at, sent_at, webhook_state
       from warning_ledger where reservation_id = $1 order by first_attempt_at limit $2`,
      [id],
    ),
    read<ObservationFact>(
      'select checked_at, absent_since, last_error from pod_observations where reservation_id = $1 limit $2',
      [id],
    ),
    read<TeardownFact>(
      `select step, volume_id, attempts, last_error, started_at, updated_at, completed_at
       from cleanup_progress where reservation_id = $1 limit $2`,
      [id],
    ),
    read<SnapshotFact>(
      `select snapshot_id, kind, volume_id, disk_id::text, user_id, state, requested_at, started_at, completed_at, deleted_at,
       volume_outcome, volume_outcome_at, last_error from snapshots where reservation_id = $1 order by requested_at limit $2`,
      [id],
    ),
    // The disk it holds now, and the one it named (released at teardown, so no longer held).
    read<DiskFact>(
      `select disk_id::text, user_id, disk_name, in_use, reservation_id, last_used, is_deleted, marked_deleted_at from disks
       where reservation_id = $1 or (user_id = $2 and disk_name = $3) limit $4`,
      [id, r.user_id, r.disk_name],
    ),
    read<OomFact>(
      `select container, restart_count, pod_name, finished_at, detected_at, detected_by, notice_state
       from oom_kills where reservation_id = $1 order by detected_at limit $2`,
      [id],
    ),
  ]);
  Object.assign(into, { warnings, observation: observation[0], teardown: teardown[0], snapshots, disks, oomKills });
  const related: [string, string][] = [
    ...[r.ebs_volume_id, teardown[0]?.volume_id, ...snapshots.map((s) => s.volume_id)]
      .filter((v): v is string => !!v)
      .map((v) => ['volume', v] as [string, string]),
    ...snapshots.flatMap((s) => (s.snapshot_id ? [['snapshot', s.snapshot_id] as [string, string]] : [])),
    ...snapshots.flatMap((s) => (s.disk_id ? [['disk', s.disk_id] as [string, string]] : [])),
  ];
  // A volume or disk outlives reservations: only what was decided about it since this one began.
  if (related.length > 0) into.decisions.push(...(await decisionsAbout(db, related, r.created_at, limit + 1)));
}

/** The newest decisions about each entity (the builder puts them in time order). */
async function decisionsAbout(
  db: Db,
  entities: [string, string][],
  since: Date,
  limit: number,
): Promise<DecisionFact[]> {
  const unique = [...new Map(entities.map((e) => [e.join('\u0000'), e])).values()];
  const { rows } = await db.query<DecisionFact>(
    `select d.id::text, d.decided_at, d.run_id::text, d.function, d.entity_kind, d.entity_id, d.action, d.reason, d.inputs, d.outcome, d.error
     from unnest($1::text[], $2::text[]) as e(kind, id)
     cross join lateral (select * from decision_log l where l.entity_kind = e.kind and l.entity_id = e.id and l.decided_at >= $3
                         order by l.decided_at desc, l.id desc limit $4) d
     order by d.decided_at desc, d.id desc limit $4`,
    [unique.map((e) => e[0]), unique.map((e) => e[1]), since, limit],
  );
  return rows;
}

/** Cut each list to `limit` rows and name the ones that had more. */
function bound(sources: TimelineSources, limit: number): TimelineSources {
  sources.decisions.sort((a, b) => b.decided_at.getTime() - a.decided_at.getTime() || Number(b.id) - Number(a.id));
  for (const key of ['decisions', 'warnings', 'snapshots', 'disks', 'oomKills', 'runs'] as const) {
    if (sources[key].length > limit) {
      sources.truncated.push(key);
      (sources[key] as unknown[]) = sources[key].slice(0, limit);
    }
  }
  return sources;
}

/** True when nothing at all is recorded about the id. */
export function knowsNothing(sources: TimelineSources): boolean {
  return !sources.reservation && !sources.lab && sources.decisions.length === 0;
}

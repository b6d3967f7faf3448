/*
 * Shutdown snapshots, read-only: the targets of a pod.cleaned event or of the sweep, the snapshots
 * found by the request tokens of rows an earlier attempt left `requested`, and the volumes' state.
 */
import { requestedSnapshots, shutdownTargetOf, shutdownsDue } from '../../../shared/db/queries/snapshots.js';
import type { RequestedRow as RequestedDbRow, ShutdownTargetRow } from '../../../shared/db/queries/snapshots.js';
import type { EventData } from '../../../shared/events/schemas.js';
import { EventTypes } from '../../../shared/events/types.js';
import { Invalid } from '../../../shared/errors.js';
import type { LoadInput } from '../../../shared/runtime/define-function.js';
import type { BaseOptions } from '../../../shared/runtime/invocation.js';
import type { Run } from '../../../shared/runtime/run.js';
import type { RequestedRow, ShutdownTarget, SnapshotSeen, VolumeSeen } from '../decide.js';
import { ec2Call } from '../ec2-calls.js';
import type { SyncDeps } from '../ec2-calls.js';
import { observeVolumes, snapshotSeen } from '../observe.js';
import { readPaced } from '../pace.js';
import { REQUEST_TOKEN_TAG } from '../tags.js';

type PodCleaned = EventData<typeof EventTypes.podCleaned>;

/** The sweep covers teardowns this recent; older ones were handled or need a person. */
const SWEEP_WINDOW_DAYS = 7;
const TOKENS_PER_CALL = 100;

export interface ShutdownLoad {
  /** Set for an event run: its inbox record commits with the first effect. */
  event: boolean;
  fresh: ShutdownTarget[];
  requested: RequestedRow[];
  volumes: ReadonlyMap<string, VolumeSeen>;
  /** Snapshots found by request token; undefined when EC2 could not be asked. */
  byToken?: ReadonlyMap<string, SnapshotSeen[]>;
  /** An event with nothing to snapshot: its delivery is still recorded. */
  acknowledge?: boolean;
  counts: Record<string, number>;
}

interface Targets {
  fresh: ShutdownTarget[];
  requested: RequestedRow[];
  counts: Record<string, number>;
  acknowledge?: boolean;
}

export async function loadShutdowns({
  run,
  deps,
  invocation,
  limit,
}: LoadInput<BaseOptions, SyncDeps>): Promise<ShutdownLoad> {
  const event = invocation.kind === 'event';
  const targets = event
    ? await eventTargets(run, deps, podCleanedOf(invocation.event))
    : await sweepTargets(run, deps, limit);
  const base = {
    event,
    fresh: targets.fresh,
    requested: targets.requested,
    ...(targets.acknowledge ? { acknowledge: true } : {}),
  };
  if (targets.fresh.length + targets.requested.length === 0)
    return { ...base, volumes: new Map(), byToken: new Map(), counts: targets.counts };
  const tokens = await findByToken(
    run,
    deps,
    targets.requested.map((row) => row.requestToken),
  );
  // A row whose token was not looked for is left for a later run: not finding its snapshot here
  // would read as "never created" and make a second one.
  const requested = tokens
    ? targets.requested.filter((row) => !tokens.unread.has(row.requestToken))
    : targets.requested;
  const targeted = [...targets.fresh, ...requested.map((row) => row.target)];
  const { volumes, malformed, unread } = await observeVolumes(run, deps, [
    ...new Set(targeted.map((target) => target.volumeId)),
  ]);
  const read = (target: ShutdownTarget) => !unread.has(target.volumeId);
  return {
    ...base,
    fresh: targets.fresh.filter(read),
    requested: requested.filter((row) => read(row.target)),
    volumes,
    ...(tokens ? { byToken: tokens.found } : {}),
    counts: { ...targets.counts, malformed_volume_ids: malformed },
  };
}

/** The routing table only sends pod.cleaned here: an event run must never turn into a full sweep. */
function podCleanedOf(event: { type: string; data: unknown }): PodCleaned {
  if (event.type !== EventTypes.podCleaned)
    throw new Invalid(`snapshot-sync does not consume ${event.type}`, [
      { field: 'type', message: 'not consumed by snapshot-sync' },
    ]);
  return event.data as PodCleaned;
}

const toTarget = (row: ShutdownTargetRow): ShutdownTarget => ({
  reservationId: row.reservation_id,
  userId: row.user_id,
  diskName: row.disk_name,
  diskId: row.disk_id,
  volumeId: row.volume_id,
  heldBy: row.held_by,
});

const toRequested = (row: RequestedDbRow): RequestedRow => ({
  rowId: row.id,
  requestToken: row.request_token,
  updatedAt: row.updated_at,
  target: toTarget(row),
});

async function sweepTargets(run: Run, deps: SyncDeps, limit: number): Promise<Targets> {
  const requested = await requestedSnapshots(deps.pool, limit);
  const fresh = await shutdownsDue(deps.pool, run.now(), SWEEP_WINDOW_DAYS, limit);
  return { fresh: fresh.map(toTarget), requested: requested.map(toRequested), counts: {} };
}

async function eventTargets(run: Run, deps: SyncDeps, event: PodCleaned): Promise<Targets> {
  const row = await shutdownTargetOf(deps.pool, event.reservationId, event.volumeId);
  const log = run.log.child({ reservationId: event.reservationId });
  if (!row) {
    log.warn('pod.cleaned names a reservation that is not in the database; nothing to snapshot');
    return { fresh: [], requested: [], counts: { events_unknown_reservation: 1 } };
  }
  if (!row.ended) {
    log.warn('pod.cleaned for a reservation that has not ended; the sweep takes it once it has');
    return { fresh: [], requested: [], counts: { events_reservation_not_ended: 1 } };
  }
  if (row.volume_id === null || row.has_row) {
    return {
      fresh: [],
      requested: [],
      counts: { [row.has_row ? 'already_requested' : 'events_without_volume']: 1 },
      acknowledge: true,
    };
  }
  return { fresh: [toTarget({ ...row, volume_id: row.volume_id })], requested: [], counts: {} };
}

/**
 * Snapshots carrying each request token, and the tokens not looked for (the run's pace stopped the
 * reads); undefined when EC2 could not be asked.
 */
async function findByToken(
  run: Run,
  deps: SyncDeps,
  tokens: string[],
): Promise<{ found: Map<string, SnapshotSeen[]>; unread: ReadonlySet<string> } | undefined> {
  const found = new Map<string, SnapshotSeen[]>();
  try {
    const unread = await readPaced(run, tokens, TOKENS_PER_CALL, async (chunk) => {
      const snapshots = await ec2Call(deps, (signal) =>
        deps.ec2.describeSnapshots({ tags: { [REQUEST_TOKEN_TAG]: chunk } }, signal),
      );
      for (const info of snapshots) {
        const token = info.tags[REQUEST_TOKEN_TAG] ?? '';
        found.set(token, [...(found.get(token) ?? []), snapshotSeen(info)]);
      }
    });
    return { found, unread };
  } catch (err) {
    run.fail('find-by-request-token', `${tokens.length} requested row(s)`, err);
    return undefined;
  }
}

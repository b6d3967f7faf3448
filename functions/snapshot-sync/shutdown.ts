/*
 * Shutdown snapshots: one per (reservation, volume), of a detached volume only. Targets come from a
 * pod.cleaned event or from the sweep; rows left `requested` by an earlier attempt are reconciled
 * by looking their snapshot up by request token before any new CreateSnapshot.
 */
import { requestedSnapshots, shutdownTargetOf, shutdownsDue } from '../../shared/db/queries/snapshots.js';
import type { RequestedRow as RequestedDbRow, ShutdownTargetRow } from '../../shared/db/queries/snapshots.js';
import type { EventData } from '../../shared/events/schemas.js';
import type { EventTypes } from '../../shared/events/types.js';
import { mapWithConcurrency } from '../../shared/resilience.js';
import type { SyncContext } from './context.js';
import { decideShutdowns } from './decide.js';
import type { RequestedRow, ShutdownAction, ShutdownTarget, SnapshotSeen } from './decide.js';
import { observeVolumes, snapshotSeen } from './observe.js';
import { executeShutdown } from './shutdown-execute.js';
import { REQUEST_TOKEN_TAG } from './tags.js';
import { trackWaits } from './waits.js';
import type { Wait } from './waits.js';

export type PodCleaned = EventData<typeof EventTypes.podCleaned>;

/** The sweep covers teardowns this recent; older ones were handled or need a person. */
const SWEEP_WINDOW_DAYS = 7;
const TOKENS_PER_CALL = 100;

interface Targets {
  fresh: ShutdownTarget[];
  requested: RequestedRow[];
}

export async function syncShutdowns(ctx: SyncContext, event?: PodCleaned): Promise<void> {
  const targets = event ? await eventTargets(ctx, event) : await sweepTargets(ctx);
  const all = [...targets.fresh, ...targets.requested.map((row) => row.target)];
  if (all.length === 0) return;
  const byToken = await findByToken(ctx, targets.requested.map((row) => row.requestToken));
  // Without the token lookup a requested row could be created twice: leave those for a later run.
  const requested = byToken ? targets.requested : [];
  const volumes = await observeVolumes(ctx, [...new Set(all.map((target) => target.volumeId))]);
  const actions = decideShutdowns({ now: ctx.now(), fresh: targets.fresh, requested, volumes, byToken: byToken ?? new Map() });
  await mapWithConcurrency(actions, ctx.concurrency, (action) => executeShutdown(ctx, action, event !== undefined));
  await trackWaits(ctx, actions.flatMap(waitOf), actions.map((action) => waitKey(action.target)));
}

const waitKey = (target: ShutdownTarget) => `shutdown:${target.reservationId}:${target.volumeId}`;

function waitOf(action: ShutdownAction): Wait[] {
  if (action.kind !== 'wait' || action.tracked === false) return [];
  const { target } = action;
  return [{ key: waitKey(target), entityKind: 'volume', entityId: target.volumeId, reason: `shutdown snapshot of reservation ${target.reservationId}: ${action.reason}`, escalateNow: action.escalate === true }];
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

async function sweepTargets(ctx: SyncContext): Promise<Targets> {
  const limit = ctx.scope.maxItems;
  const requested = await requestedSnapshots(ctx.deps.pool, limit);
  const fresh = await shutdownsDue(ctx.deps.pool, ctx.now(), SWEEP_WINDOW_DAYS, limit);
  return { fresh: fresh.map(toTarget), requested: requested.map(toRequested) };
}

async function eventTargets(ctx: SyncContext, event: PodCleaned): Promise<Targets> {
  const none: Targets = { fresh: [], requested: [] };
  const row = await shutdownTargetOf(ctx.deps.pool, event.reservationId, event.volumeId);
  const log = ctx.scope.log.child({ reservationId: event.reservationId });
  if (!row) {
    log.warn('pod.cleaned names a reservation that is not in the database; nothing to snapshot');
    ctx.count('events_unknown_reservation');
    return none;
  }
  if (!row.ended) {
    log.warn('pod.cleaned for a reservation that has not ended; the sweep takes it once it has');
    ctx.count('events_reservation_not_ended');
    return none;
  }
  if (row.volume_id === null || row.has_row) {
    ctx.count(row.has_row ? 'already_requested' : 'events_without_volume');
    if (!ctx.dryRun) await ctx.tx(async (db) => ({ value: await ctx.scope.claimEvent(db), decisions: [] }));
    return none;
  }
  return { fresh: [toTarget({ ...row, volume_id: row.volume_id })], requested: [] };
}

/** Snapshots carrying each request token; undefined when EC2 could not be asked. */
async function findByToken(ctx: SyncContext, tokens: string[]): Promise<Map<string, SnapshotSeen[]> | undefined> {
  const found = new Map<string, SnapshotSeen[]>();
  try {
    for (let i = 0; i < tokens.length; i += TOKENS_PER_CALL) {
      const chunk = tokens.slice(i, i + TOKENS_PER_CALL);
      const snapshots = await ctx.aws((signal) => ctx.deps.ec2.describeSnapshots({ tags: { [REQUEST_TOKEN_TAG]: chunk } }, signal));
      for (const info of snapshots) {
        const token = info.tags[REQUEST_TOKEN_TAG] ?? '';
        found.set(token, [...(found.get(token) ?? []), snapshotSeen(info)]);
      }
    }
    return found;
  } catch (err) {
    ctx.fail('find-by-request-token', `${tokens.length} requested row(s)`, err);
    return undefined;
  }
}

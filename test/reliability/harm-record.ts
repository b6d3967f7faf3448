/*
 * What happened to a generated fleet, round by round: every destructive Kubernetes request, every
 * EC2 call that snapshots or deletes, the teardown step each reservation was in, and the status of
 * every reservation and lab. The simulator keeps bounded logs, so they are drained each round.
 */
import type { Db } from '../../shared/db/pool.js';
import type { Sim } from '../../sim/server.js';

export interface KubeDelete {
  round: number;
  namespace: string;
  kind: string;
  /** Absent for a collection delete. */
  name?: string;
  labelSelector?: string;
  graceSeconds?: number;
  /** On the simulator's clock. */
  at: Date;
}

export interface Ec2Write {
  round: number;
  action: string;
  volumeId?: string;
  snapshotId?: string;
  tags: Record<string, string>;
}

export interface HarmRecord {
  deletes: KubeDelete[];
  ec2: Ec2Write[];
  /** reservation id → teardown steps seen, with the round. */
  steps: Map<string, { round: number; step: string }[]>;
  /** Per round: reservation id → status, lab id → status. */
  statuses: { round: number; reservations: Map<string, string>; labs: Map<string, string> }[];
}

export function newHarmRecord(): HarmRecord {
  return { deletes: [], ec2: [], steps: new Map(), statuses: [] };
}

const OBJECT_PATH =
  /^\/(?:api\/v1|apis\/networking\.k8s\.io\/v1)\/namespaces\/([^/]+)\/(pods|services|ingresses)(?:\/([^/]+))?$/;
const EC2_WRITES = ['CreateSnapshot', 'DeleteVolume', 'DeleteSnapshot', 'DetachVolume'];

function tagsOf(params: Record<string, string>): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const [key, value] of Object.entries(params)) {
    const match = /^TagSpecification\.(\d+)\.Tag\.(\d+)\.Key$/.exec(key);
    if (match) tags[value] = params[`TagSpecification.${match[1]}.Tag.${match[2]}.Value`] ?? '';
  }
  return tags;
}

/** Drains the simulator's logs into the record and samples the database; call after every round. */
export async function recordRound(record: HarmRecord, round: number, sim: Sim, db: Db): Promise<void> {
  for (const request of sim.requests.all()) {
    const match = request.method === 'DELETE' ? OBJECT_PATH.exec(request.path) : null;
    if (!match) continue;
    const labelSelector = request.query.get('labelSelector') ?? undefined;
    const grace = request.query.get('gracePeriodSeconds');
    record.deletes.push({
      round,
      at: request.at,
      namespace: decodeURIComponent(match[1]!),
      kind: match[2]!,
      ...(match[3] && { name: decodeURIComponent(match[3]) }),
      ...(labelSelector && { labelSelector }),
      ...(grace !== null && { graceSeconds: Number(grace) }),
    });
  }
  sim.requests.clear();
  for (const call of sim.aws.calls().filter((c) => c.service === 'ec2' && EC2_WRITES.includes(c.action))) {
    const { VolumeId: volumeId, SnapshotId: snapshotId } = call.params;
    record.ec2.push({
      round,
      action: call.action,
      ...(volumeId && { volumeId }),
      ...(snapshotId && { snapshotId }),
      tags: tagsOf(call.params),
    });
  }
  sim.aws.clear();
  const steps = await db.query<{ reservation_id: string; step: string }>(
    'select reservation_id, step from cleanup_progress',
  );
  for (const row of steps.rows) {
    const seen = record.steps.get(row.reservation_id) ?? [];
    if (seen.at(-1)?.step !== row.step) seen.push({ round, step: row.step });
    record.steps.set(row.reservation_id, seen);
  }
  const reservations = await db.query<{ reservation_id: string; status: string }>(
    'select reservation_id, status from reservations',
  );
  const labs = await db.query<{ id: string; status: string }>('select id::text, status from labs');
  record.statuses.push({
    round,
    reservations: new Map(reservations.rows.map((r) => [r.reservation_id, r.status])),
    labs: new Map(labs.rows.map((l) => [l.id, l.status])),
  });
}

/*
 * The invariants of issue 14 over a generated fleet, read from what the simulator recorded and the
 * final state: nothing owned by another entity is touched, no live environment ends, no volume is
 * snapshotted, detach-waited or deleted for a reservation that does not hold it, and every teardown
 * and item that can be handled is handled once the outages have cleared. Each violation is a
 * sentence that starts with its invariant's name, so a failure says which promise broke.
 */
import type { Db } from '../../shared/db/pool.js';
import type { Sim } from '../../sim/server.js';
import { LAB_NS, PASSING_CONDITIONS } from './adversity.js';
import type { GeneratedFleet, GenReservation } from './adversity.js';
import type { HarmRecord } from './harm-record.js';

export type Invariant =
  'ownership' | 'live-stays-live' | 'no-force-on-unknown' | 'volume-holder' | 'volume-state' | 'liveness' | 'old';

export interface Violation {
  invariant: Invariant;
  entity: string;
  what: string;
}

const TERMINAL = ['expired', 'failed', 'cancelled'];
const EXPECTED_END: Partial<Record<GenReservation['kind'], string>> = {
  expiring: 'expired',
  vanished: 'expired',
  dead: 'failed',
  ended: 'expired',
};
const RESERVATION_TAG = 'devenv-lifecycle/reservation-id';
const show = (id: string) => JSON.stringify(id);

/** Live at `round`: always-live kinds, and pods not yet deleted or evicted. */
function liveAt(r: GenReservation, round: number): boolean {
  if (r.kind === 'live' || r.kind === 'newer' || r.kind === 'missing-ns') return true;
  return (r.kind === 'vanished' || r.kind === 'dead') && round < r.blowRound!;
}

/** Whose each pod and service is ("namespace/kind/name" → owner id and whether it is a lab). */
function owners(fleet: GeneratedFleet): Map<string, { id: string; lab: boolean }> {
  const map = new Map<string, { id: string; lab: boolean }>();
  for (const r of fleet.reservations.filter((x) => x.ownPod && x.podName)) {
    map.set(`${r.namespace}/pods/${r.podName}`, { id: r.id, lab: false });
    map.set(`${r.namespace}/services/${r.podName}-ssh`, { id: r.id, lab: false });
  }
  for (const lab of fleet.labs) for (const pod of lab.pods) map.set(`${LAB_NS}/pods/${pod}`, { id: lab.id, lab: true });
  return map;
}

export function ownershipViolations(fleet: GeneratedFleet, record: HarmRecord, sim: Sim): Violation[] {
  const found: Violation[] = [];
  const byId = new Map(fleet.reservations.map((r) => [r.id, r]));
  const liveLab = new Set(fleet.labs.filter((l) => l.role === 'live').map((l) => l.id));
  const objects = owners(fleet);
  const isLive = (owner: { id: string; lab: boolean }, round: number) =>
    owner.lab ? liveLab.has(owner.id) : liveAt(byId.get(owner.id)!, round);
  for (const d of record.deletes) {
    if (d.name) {
      const owner = objects.get(`${d.namespace}/${d.kind}/${d.name}`);
      if (owner && isLive(owner, d.round))
        found.push({
          invariant: 'ownership',
          entity: owner.id,
          what: `round ${d.round}: DELETE ${d.kind}/${d.name} of live ${owner.lab ? 'lab' : 'reservation'} ${show(owner.id)}`,
        });
      continue;
    }
    const named = (d.labelSelector ?? '').split(',').map((term) => term.split('=').at(-1));
    for (const r of fleet.reservations.filter((x) => liveAt(x, d.round) && named.includes(x.id))) {
      found.push({
        invariant: 'ownership',
        entity: r.id,
        what: `round ${d.round}: DELETE collection ${d.kind} ${d.labelSelector} names live reservation ${show(r.id)}`,
      });
    }
  }
  for (const exec of sim.kube.execs()) {
    const owner = objects.get(`${exec.namespace}/pods/${exec.pod}`);
    const reservation = owner && !owner.lab ? byId.get(owner.id) : undefined;
    // The pod's own reservation is a day from its deadline and had no OOM kill: nothing of its own is due in it.
    if (owner?.lab || (reservation && reservation.expiresInMinutes > 60)) {
      found.push({
        invariant: 'ownership',
        entity: owner!.id,
        what: `exec ${exec.argv.slice(0, 3).join(' ')} into pod ${exec.pod} of ${show(owner!.id)}, which has nothing due`,
      });
      continue;
    }
    // A warning names the reservation it is for; an owner's id is a label value, so it appears verbatim.
    const named = /gpu-dev extend (.*)/.exec(exec.stdin ?? exec.argv.join(' '))?.[1];
    if (reservation && named !== undefined && !named.includes(reservation.id)) {
      found.push({
        invariant: 'ownership',
        entity: reservation.id,
        what: `warning for ${named} written into pod ${exec.pod} of ${show(reservation.id)}`,
      });
    }
  }
  return dedupe(found);
}

/** A graceful pod delete whose answer was lost is followed by a read, never by grace 0 before the grace has passed. */
export function forceViolations(fleet: GeneratedFleet, record: HarmRecord): Violation[] {
  const found: Violation[] = [];
  const objects = owners(fleet);
  const graceful = record.deletes.filter((d) => d.kind === 'pods' && d.name && (d.graceSeconds ?? 30) > 0);
  for (const d of record.deletes.filter((x) => x.kind === 'pods' && x.name && x.graceSeconds === 0)) {
    const first = graceful.find((g) => g.namespace === d.namespace && g.name === d.name && g.at <= d.at);
    const waited = first ? (d.at.getTime() - first.at.getTime()) / 1000 : Infinity;
    if (first && waited < (first.graceSeconds ?? 30)) {
      found.push({
        invariant: 'no-force-on-unknown',
        entity: objects.get(`${d.namespace}/pods/${d.name}`)?.id ?? '',
        what: `round ${d.round}: pod ${d.name} deleted with grace 0 ${waited} s after a graceful delete of ${first.graceSeconds ?? 30} s`,
      });
    }
  }
  return found;
}

export function liveViolations(fleet: GeneratedFleet, record: HarmRecord, sim: Sim): Violation[] {
  const found: Violation[] = [];
  const ending = fleet.labs.filter((l) => l.role === 'ending');
  for (const sample of record.statuses) {
    for (const r of fleet.reservations.filter((x) => liveAt(x, sample.round))) {
      const status = sample.reservations.get(r.id);
      if (status !== 'active')
        found.push({
          invariant: 'live-stays-live',
          entity: r.id,
          what: `round ${sample.round}: ${r.kind} reservation ${show(r.id)} became ${status}`,
        });
    }
    for (const lab of fleet.labs) {
      const status = sample.labs.get(lab.id);
      if (lab.role === 'live' && status !== 'ready')
        found.push({
          invariant: 'live-stays-live',
          entity: lab.id,
          what: `round ${sample.round}: live lab became ${status}`,
        });
      if (ending.includes(lab) && status === 'failed')
        found.push({
          invariant: 'live-stays-live',
          entity: lab.id,
          what: `round ${sample.round}: ending lab marked failed (terminal) while its teardown could still finish`,
        });
    }
  }
  for (const r of fleet.reservations.filter((x) => liveAt(x, Infinity) && x.ownPod)) {
    const pod = sim.kube.pod({ namespace: r.namespace, name: r.podName! });
    if (!pod || pod.metadata.deletionTimestamp)
      found.push({
        invariant: 'live-stays-live',
        entity: r.id,
        what: `pod ${r.podName} of live reservation ${show(r.id)} deleted`,
      });
    if (r.volumeId && sim.aws.volume(r.volumeId)?.state !== 'in-use')
      found.push({
        invariant: 'live-stays-live',
        entity: r.id,
        what: `volume ${r.volumeId} of live reservation ${show(r.id)} is ${sim.aws.volume(r.volumeId)?.state}`,
      });
  }
  return dedupe(found);
}

export async function volumeViolations(fleet: GeneratedFleet, record: HarmRecord, db: Db): Promise<Violation[]> {
  const found: Violation[] = [];
  const holderOf = new Map(
    fleet.reservations.filter((r) => r.volumeId && r.kind !== 'newer').map((r) => [r.volumeId!, r.diskHolder]),
  );
  for (const r of fleet.reservations.filter((x) => x.volumeId && x.diskHolder !== x.id)) {
    for (const seen of (record.steps.get(r.id) ?? []).filter(
      (s) => s.step === 'await_detach' || s.step === 'request_snapshot',
    )) {
      found.push({
        invariant: 'volume-holder',
        entity: r.id,
        what: `round ${seen.round}: teardown of ${show(r.id)} at ${seen.step} on ${r.volumeId}, held by ${show(r.diskHolder ?? '')}`,
      });
    }
  }
  const byId = new Map(fleet.reservations.map((r) => [r.id, r]));
  for (const call of record.ec2.filter((c) => c.volumeId && holderOf.has(c.volumeId))) {
    const holder = holderOf.get(call.volumeId!)!;
    const forWhom = call.tags[RESERVATION_TAG];
    if (forWhom !== undefined && forWhom !== holder)
      found.push({
        invariant: 'volume-holder',
        entity: forWhom,
        what: `round ${call.round}: ${call.action} ${call.volumeId} for ${show(forWhom)}, held by ${show(holder ?? '')}`,
      });
    else if (holder && byId.get(holder) && liveAt(byId.get(holder)!, call.round))
      found.push({
        invariant: 'volume-holder',
        entity: holder,
        what: `round ${call.round}: ${call.action} ${call.volumeId} of live ${show(holder)}`,
      });
  }
  for (const r of fleet.reservations.filter((x) => x.volume && PASSING_CONDITIONS.includes(x.volume.condition))) {
    for (const call of record.ec2.filter((c) => c.volumeId === r.volumeId && c.round <= r.volume!.until)) {
      found.push({
        invariant: 'volume-state',
        entity: r.id,
        what: `round ${call.round}: ${call.action} ${call.volumeId} of ${show(r.id)} while it was ${r.volume!.condition}`,
      });
    }
  }
  // An `abandoned` row records a refusal (no snapshot taken), which is the right answer here.
  const rows = await db.query<{ reservation_id: string; volume_id: string; kind: string }>(
    `select reservation_id, volume_id, kind from snapshots where state <> 'abandoned'`,
  );
  for (const row of rows.rows.filter(
    (s) => holderOf.has(s.volume_id) && holderOf.get(s.volume_id) !== s.reservation_id,
  )) {
    found.push({
      invariant: 'volume-holder',
      entity: row.reservation_id,
      what: `${row.kind} snapshot row for ${show(row.reservation_id)} on ${row.volume_id}, held by ${show(holderOf.get(row.volume_id) ?? '')}`,
    });
  }
  return dedupe(found);
}

/** After the outages and the bounded settle: every teardown that can finish is done, every item handled. */
export async function livenessViolations(fleet: GeneratedFleet, db: Db, sim: Sim): Promise<Violation[]> {
  const found: Violation[] = [];
  const q = async <R extends object>(text: string) => (await db.query<R>(text)).rows;
  const status = new Map(
    (await q<{ reservation_id: string; status: string }>('select reservation_id, status from reservations')).map(
      (r) => [r.reservation_id, r.status],
    ),
  );
  const done = new Set(
    (await q<{ reservation_id: string }>(`select reservation_id from cleanup_progress where step = 'done'`)).map(
      (r) => r.reservation_id,
    ),
  );
  const shutdown = await q<{ reservation_id: string; volume_id: string; state: string }>(
    `select reservation_id, volume_id, state from snapshots where kind = 'shutdown'`,
  );
  const disks = await q<{ ebs_volume_id: string; reservation_id: string | null }>(
    'select ebs_volume_id, reservation_id from disks',
  );
  for (const r of fleet.reservations) {
    const expected = EXPECTED_END[r.kind];
    const fail = (what: string) =>
      found.push({ invariant: 'liveness', entity: r.id, what: `${r.kind} ${show(r.id)}: ${what}` });
    // A volume in `error` has no right answer to check: only the safety invariants apply to it.
    if (!expected || r.volume?.condition === 'error') continue;
    if (status.get(r.id) !== expected) fail(`status ${status.get(r.id)}, expected ${expected}`);
    if (!TERMINAL.includes(status.get(r.id) ?? '')) continue;
    if (!done.has(r.id)) fail('teardown not done');
    if (r.ownPod && sim.kube.pod({ namespace: r.namespace, name: r.podName! })) fail(`pod ${r.podName} still exists`);
    const disk = disks.find((d) => d.ebs_volume_id === r.volumeId);
    if (r.volumeId && r.diskHolder === r.id) {
      const rows = shutdown.filter((s) => s.reservation_id === r.id);
      const gone = r.volume?.condition === 'deleting' || r.volume?.condition === 'deleted';
      if (!gone && (rows.length !== 1 || rows[0]!.state !== 'completed'))
        fail(`shutdown snapshot rows ${JSON.stringify(rows)}`);
      if (disk?.reservation_id) fail('disk not released');
    }
    if (r.volumeId && r.diskHolder !== r.id && disk?.reservation_id !== r.diskHolder)
      fail(`moved disk now held by ${disk?.reservation_id}`);
  }
  const labs = new Map(
    (await q<{ id: string; status: string }>('select id::text, status from labs')).map((l) => [l.id, l.status]),
  );
  const held = new Set(
    (await q<{ lab_id: string }>('select lab_id::text from port_reservations where released_at is null')).map(
      (p) => p.lab_id,
    ),
  );
  for (const lab of fleet.labs.filter((l) => l.role === 'ending')) {
    const left = lab.pods.filter((name) => sim.kube.pod({ namespace: LAB_NS, name }));
    if (labs.get(lab.id) !== 'finished' || left.length > 0 || held.has(lab.id)) {
      found.push({
        invariant: 'liveness',
        entity: lab.id,
        what: `ending lab: ${labs.get(lab.id)}, pods left ${left.length}, port held ${held.has(lab.id)}`,
      });
    }
  }
  return found;
}

function dedupe(found: Violation[]): Violation[] {
  const seen = new Set<string>();
  return found.filter((v) => {
    const key = `${v.invariant} ${v.entity} ${v.what.replace(/^round \d+: /, '')}`;
    return !seen.has(key) && Boolean(seen.add(key));
  });
}

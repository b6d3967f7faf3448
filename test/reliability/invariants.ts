/*
 * What must hold at the end of any run, however many replicas, duplicates, faults or crashes it
 * saw: read from the final database and simulator state, never from what the runs said about
 * themselves. Each check returns the violations it found, as sentences naming the entity.
 */
import type { Db } from '../../shared/db/pool.js';
import { consumersOf } from '../../shared/events/routing.js';
import { EventTypes } from '../../shared/events/types.js';
import type { EventType } from '../../shared/events/types.js';
import type { Sim } from '../../sim/server.js';
import type { PublishedEvent } from './bus.js';
import { LAB_NS, RES_NS } from './fleet.js';
import type { Fleet, FleetReservation } from './fleet.js';

const ENDED_TYPES = [EventTypes.reservationExpired, EventTypes.reservationFailed, EventTypes.reservationCancelled];
const EXPECTED_STATUS: Partial<Record<FleetReservation['role'], string>> = {
  live: 'active',
  oom: 'active',
  newer: 'active',
  expiring: 'expired',
  evicted: 'failed',
  vanished: 'expired',
  stale: 'cancelled',
  preparing: 'failed',
  'ended-moved': 'expired',
};

async function rows<R>(db: Db, text: string, values: unknown[] = []): Promise<R[]> {
  return (await db.query(text, values)).rows as R[];
}

/** Distinct events (by id) per key: a redelivered publication is one event, a second event is not. */
export function countBy(
  published: PublishedEvent[],
  types: readonly string[],
  key: (event: PublishedEvent) => string,
): Map<string, number> {
  const ids = new Map<string, Set<string>>();
  for (const event of published.filter((e) => types.includes(e.type))) {
    const k = key(event);
    ids.set(k, (ids.get(k) ?? new Set()).add(event.id));
  }
  return new Map([...ids].map(([k, set]) => [k, set.size]));
}

export async function warnedOnce(db: Db, sim: Sim, published: PublishedEvent[]): Promise<string[]> {
  const found: string[] = [];
  const perLevel = countBy(
    published,
    [EventTypes.reservationWarned],
    (e) => `${e.subject} ${String(e.data.expiresAt)} ${String(e.data.levelMinutes)}`,
  );
  for (const [key, n] of perLevel) if (n > 1) found.push(`warning ${key}: published ${n} times for one deadline`);
  // Per pod (namespace and name): several reservations may name one pod, so its writes are held
  // against the ledger rows of all of them; which reservation a write was for is the ownership
  // invariant's concern (harm.ts).
  const ledger = await rows<{ namespace: string | null; pod_name: string; n: string }>(
    db,
    `select r.namespace, r.pod_name, count(*) as n
    from warning_ledger l join reservations r using (reservation_id) group by 1, 2`,
  );
  // A file delivered again after a killed run goes without its broadcast (SPEC 2.1): only the
  // broadcasting writes are held to one per (deadline, level).
  const writes = new Map<string, number>();
  for (const exec of sim.kube.execs()) {
    const pod = `${exec.namespace}/${exec.pod}`;
    const broadcasts = exec.argv[2]?.includes('wall') === true;
    if (exec.exitCode === 0 && broadcasts && exec.argv.some((arg) => arg.includes('WARN_EXPIRES_IN_')))
      writes.set(pod, (writes.get(pod) ?? 0) + 1);
  }
  const allowed = new Map<string, number>();
  for (const row of ledger) {
    const pod = `${row.namespace ?? RES_NS}/${row.pod_name}`;
    allowed.set(pod, (allowed.get(pod) ?? 0) + Number(row.n));
  }
  for (const [pod, n] of writes) {
    if (n > (allowed.get(pod) ?? 0))
      found.push(`pod ${pod}: ${n} warnings broadcast for ${allowed.get(pod) ?? 0} (deadline, level) pairs`);
  }
  return found;
}

async function endedOnce(db: Db, fleet: Fleet, published: PublishedEvent[]): Promise<string[]> {
  const found: string[] = [];
  const status = new Map(
    (await rows<{ reservation_id: string; status: string }>(db, 'select reservation_id, status from reservations')).map(
      (r) => [r.reservation_id, r.status],
    ),
  );
  const events = countBy(published, ENDED_TYPES, (e) => String(e.subject));
  for (const r of fleet.reservations) {
    const expected = EXPECTED_STATUS[r.role];
    if (status.get(r.id) !== expected)
      found.push(`reservation ${r.id} (${r.role}): status ${status.get(r.id)}, expected ${expected}`);
    const wanted = r.role === 'ended-moved' || expected === 'active' ? 0 : 1;
    if ((events.get(r.id) ?? 0) !== wanted)
      found.push(`reservation ${r.id} (${r.role}): ${events.get(r.id) ?? 0} end events, expected ${wanted}`);
  }
  return found;
}

async function teardownsDone(db: Db, sim: Sim, fleet: Fleet): Promise<string[]> {
  const found: string[] = [];
  const done = new Set(
    (await rows<{ reservation_id: string }>(db, `select reservation_id from cleanup_progress where step = 'done'`)).map(
      (r) => r.reservation_id,
    ),
  );
  const shutdown = await rows<{ reservation_id: string; volume_id: string; state: string }>(
    db,
    `select reservation_id, volume_id, state from snapshots where kind = 'shutdown'`,
  );
  const made = new Map<string, number>();
  for (const snapshot of sim.aws.snapshots()) {
    if (snapshot.tags['gpu-dev-snapshot-type'] === 'shutdown')
      made.set(snapshot.volumeId, (made.get(snapshot.volumeId) ?? 0) + 1);
  }
  for (const r of fleet.reservations) {
    if (['live', 'oom', 'newer'].includes(r.role)) continue;
    if (!done.has(r.id)) found.push(`reservation ${r.id} (${r.role}): teardown not done`);
    if (r.podName && sim.kube.pod({ namespace: RES_NS, name: r.podName }))
      found.push(`reservation ${r.id} (${r.role}): pod still exists`);
    if (!r.volumeId) continue;
    const rowsFor = shutdown.filter((s) => s.reservation_id === r.id);
    if (rowsFor.length !== 1 || rowsFor[0]!.state !== 'completed')
      found.push(`reservation ${r.id}: shutdown snapshot rows ${JSON.stringify(rowsFor)}`);
    if (made.get(r.volumeId) !== 1)
      found.push(`volume ${r.volumeId}: ${made.get(r.volumeId) ?? 0} shutdown snapshots in EC2, expected 1`);
  }
  return found;
}

async function disksHeld(db: Db, fleet: Fleet): Promise<string[]> {
  const found: string[] = [];
  const disks = await rows<{ user_id: string; disk_name: string; in_use: boolean; reservation_id: string | null }>(
    db,
    'select user_id, disk_name, in_use, reservation_id from disks',
  );
  for (const r of fleet.reservations) {
    if (r.role === 'ended-moved') continue;
    const disk = disks.find((d) => d.user_id === r.userId && d.disk_name === r.diskName);
    const live = ['live', 'oom', 'newer'].includes(r.role);
    if (live && (!disk?.in_use || disk.reservation_id !== r.id))
      found.push(
        `disk ${r.diskName} of live reservation ${r.id} (${r.role}) released or moved: ${JSON.stringify(disk)}`,
      );
    if (!live && (disk?.in_use || disk?.reservation_id))
      found.push(`disk ${r.diskName} of ended reservation ${r.id} still held`);
  }
  return found;
}

async function oomOnce(db: Db, fleet: Fleet, published: PublishedEvent[]): Promise<string[]> {
  const found: string[] = [];
  const kills = new Map(
    (
      await rows<{ reservation_id: string; n: string }>(
        db,
        'select reservation_id, count(*) as n from oom_kills group by 1',
      )
    ).map((r) => [r.reservation_id, Number(r.n)]),
  );
  const counts = new Map(
    (
      await rows<{ reservation_id: string; oom_count: number }>(
        db,
        'select reservation_id, oom_count from reservations',
      )
    ).map((r) => [r.reservation_id, r.oom_count]),
  );
  const events = countBy(
    published,
    [EventTypes.reservationOom],
    (e) => `${String(e.data.podUid)} ${String(e.data.container)} ${String(e.data.restartCount)}`,
  );
  for (const [key, n] of events) if (n > 1) found.push(`OOM kill ${key} published ${n} times`);
  if (
    [...events.values()].length !==
    fleet.reservations.reduce((sum, r) => sum + (r.role === 'oom' ? r.blowRounds.length : 0), 0)
  ) {
    found.push(`${events.size} OOM kills published, expected one per kill`);
  }
  for (const r of fleet.reservations) {
    const expected = r.role === 'oom' ? r.blowRounds.length : 0;
    if ((kills.get(r.id) ?? 0) !== expected || counts.get(r.id) !== expected) {
      found.push(
        `reservation ${r.id} (${r.role}): ${kills.get(r.id) ?? 0} OOM rows and oom_count ${counts.get(r.id)}, expected ${expected}`,
      );
    }
  }
  return found;
}

async function labsOnce(db: Db, sim: Sim, fleet: Fleet, published: PublishedEvent[]): Promise<string[]> {
  const found: string[] = [];
  const labs = new Map(
    (await rows<{ id: string; status: string }>(db, 'select id::text, status from labs')).map((l) => [l.id, l.status]),
  );
  const events = countBy(published, [EventTypes.labFinished, EventTypes.labFailed], (e) => String(e.subject));
  const held = new Set(
    (await rows<{ lab_id: string }>(db, 'select lab_id::text from port_reservations where released_at is null')).map(
      (p) => p.lab_id,
    ),
  );
  for (const lab of fleet.labs) {
    const live = lab.role === 'live';
    const podsLeft = lab.pods.filter((name) => sim.kube.pod({ namespace: LAB_NS, name })).length;
    if (live && (labs.get(lab.id) !== 'ready' || podsLeft !== lab.pods.length || !held.has(lab.id)))
      found.push(`live lab ${lab.id} touched: ${labs.get(lab.id)}, ${podsLeft} pods`);
    if (live) continue;
    // Ambiguous evidence keeps a lab ENDING and retried (issue 14), so once the faults stop every
    // ending lab is `finished`, truly: `failed` would be a terminal state written on an outage.
    const status = labs.get(lab.id);
    if (status !== 'finished' || podsLeft !== 0 || held.has(lab.id))
      found.push(`lab ${lab.id} (${lab.role}): ${status}, ${podsLeft} pods, port held ${held.has(lab.id)}`);
    if (events.get(lab.id) !== 1) found.push(`lab ${lab.id}: ${events.get(lab.id) ?? 0} end events, expected 1`);
  }
  return found;
}

export async function eventsConsumedOnce(db: Db): Promise<string[]> {
  const found: string[] = [];
  const backlog = await rows<{ n: string }>(db, 'select count(*) as n from event_outbox where delivered_at is null');
  if (Number(backlog[0]!.n) > 0) found.push(`${backlog[0]!.n} events still in the outbox`);
  const published = await rows<{ event_id: string; source: string; type: string }>(
    db,
    'select event_id::text, source, type from event_outbox',
  );
  const inbox = new Set(
    (
      await rows<{ consumer: string; source: string; event_id: string }>(
        db,
        'select consumer, source, event_id::text from event_inbox',
      )
    ).map((r) => `${r.consumer} ${r.source} ${r.event_id}`),
  );
  for (const event of published) {
    for (const consumer of consumersOf(event.type as EventType)) {
      if (!inbox.has(`${consumer} ${event.source} ${event.event_id}`))
        found.push(`${event.type} ${event.event_id} never consumed by ${consumer}`);
    }
  }
  return found;
}

/** No live reservation or lab lost its status, pods or volume, whatever the run went through. */
export async function falseTeardowns(db: Db, sim: Sim, fleet: Fleet): Promise<string[]> {
  const found: string[] = [];
  const status = new Map(
    (await rows<{ reservation_id: string; status: string }>(db, 'select reservation_id, status from reservations')).map(
      (r) => [r.reservation_id, r.status],
    ),
  );
  for (const r of fleet.reservations.filter((x) => ['live', 'oom', 'newer'].includes(x.role))) {
    const pod = r.podName ? sim.kube.pod({ namespace: RES_NS, name: r.podName }) : undefined;
    if (status.get(r.id) !== 'active') found.push(`live reservation ${r.id} (${r.role}) became ${status.get(r.id)}`);
    if (r.podName && (!pod || pod.metadata.deletionTimestamp)) found.push(`live reservation ${r.id}: pod deleted`);
    if (r.volumeId && sim.aws.volume(r.volumeId)?.state !== 'in-use')
      found.push(`live reservation ${r.id}: volume ${r.volumeId} ${sim.aws.volume(r.volumeId)?.state}`);
  }
  const labs = new Map(
    (await rows<{ id: string; status: string }>(db, 'select id::text, status from labs')).map((l) => [l.id, l.status]),
  );
  for (const lab of fleet.labs.filter((l) => l.role === 'live')) {
    if (labs.get(lab.id) !== 'ready') found.push(`live lab ${lab.id} became ${labs.get(lab.id)}`);
    const gone = lab.pods.filter((name) => !sim.kube.pod({ namespace: LAB_NS, name }));
    if (gone.length > 0) found.push(`live lab ${lab.id}: pods deleted ${gone.join(', ')}`);
  }
  return found;
}

export async function checkInvariants(db: Db, sim: Sim, fleet: Fleet, published: PublishedEvent[]): Promise<string[]> {
  const groups = await Promise.all([
    warnedOnce(db, sim, published),
    endedOnce(db, fleet, published),
    teardownsDone(db, sim, fleet),
    disksHeld(db, fleet),
    oomOnce(db, fleet, published),
    labsOnce(db, sim, fleet, published),
    eventsConsumedOnce(db),
    falseTeardowns(db, sim, fleet),
  ]);
  return groups.flat();
}

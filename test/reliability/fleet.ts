/*
 * The fleet the reliability suite runs over: reservations and labs in every situation the six
 * functions act on, plus the live ones they must never touch. Ids and the chaos plan come from
 * the fleet's index only (no randomness), so a run with crashes or faults can be compared with a
 * clean run of the same fleet.
 */
import type { Db } from '../../shared/db/pool.js';
import { stableUuid } from '../../shared/ids.js';
import type { Sim } from '../../sim/server.js';
import { insertDisk, insertLab, insertReservation } from '../support/fixtures.js';

export const RES_NS = 'gpu-dev';
export const LAB_NS = 'octolab-labs';

export type ReservationRole =
  'live' | 'oom' | 'expiring' | 'evicted' | 'vanished' | 'stale' | 'preparing' | 'ended-moved' | 'newer';
export type LabRole = 'ending' | 'live' | 'late-ending';

export interface FleetReservation {
  id: string;
  role: ReservationRole;
  podName: string | null;
  volumeId: string | null;
  diskName: string;
  userId: string;
  /** For `oom`: rounds at which the main container is OOM-killed. For evicted/vanished: the round of the blow. */
  blowRounds: number[];
}

export interface FleetLab {
  id: string;
  role: LabRole;
  pods: string[];
  port: number;
  /** For `late-ending`: the round at which the platform moves it to ENDING. */
  endingRound?: number;
}

export interface Fleet {
  reservations: FleetReservation[];
  labs: FleetLab[];
}

const ROLES: ReservationRole[] = [
  'live',
  'oom',
  'expiring',
  'evicted',
  'vanished',
  'stale',
  'preparing',
  'ended-moved',
];
const LAB_ROLES: LabRole[] = ['ending', 'live', 'late-ending'];

function volumeIdFor(n: number): string {
  return `vol-${n.toString(16).padStart(17, '0')}`;
}

/** `units` copies of every situation; `rounds` bounds when the blows land. */
export function planFleet(units: number, rounds: number): Fleet {
  const reservations: FleetReservation[] = [];
  const labs: FleetLab[] = [];
  let serial = 0;
  for (let unit = 0; unit < units; unit++) {
    for (const role of ROLES) {
      serial += 1;
      const id = stableUuid(`reservation-${role}-${unit}`);
      const withPod = !['stale', 'preparing', 'ended-moved'].includes(role);
      const blowAt = 1 + ((unit * 3 + serial) % Math.max(1, Math.floor(rounds / 3)));
      reservations.push({
        id,
        role,
        podName: withPod ? `gpu-dev-${id.slice(0, 8)}` : null,
        volumeId: withPod ? volumeIdFor(serial) : null,
        diskName: `home-${serial}`,
        userId: `user-${unit}-${role}@example.com`,
        blowRounds:
          role === 'oom'
            ? [blowAt, blowAt + 2 + (unit % 3)]
            : role === 'evicted' || role === 'vanished'
              ? [blowAt]
              : [],
      });
      if (role === 'ended-moved') {
        const newer = stableUuid(`reservation-newer-${unit}`);
        reservations.push({
          id: newer,
          role: 'newer',
          podName: `gpu-dev-${newer.slice(0, 8)}`,
          volumeId: null,
          diskName: `home-${serial}`,
          userId: `user-${unit}-${role}@example.com`,
          blowRounds: [],
        });
      }
    }
    for (const role of LAB_ROLES) {
      const id = stableUuid(`lab-${role}-${unit}`);
      labs.push({
        id,
        role,
        pods: [0, 1].map((i) => `lab-${id.slice(0, 8)}-${i}`),
        port: 6000 + labs.length,
        ...(role === 'late-ending' && { endingRound: 1 + (unit % 3) }),
      });
    }
  }
  return { reservations, labs };
}

const minutes = (now: Date, n: number) => new Date(now.getTime() + n * 60_000);

function rowFor(r: FleetReservation, now: Date, index: number) {
  const base = {
    reservation_id: r.id,
    user_id: r.userId,
    pod_name: r.podName,
    namespace: RES_NS,
    ebs_volume_id: r.volumeId,
    disk_name: r.diskName,
    created_at: minutes(now, -300),
    launched_at: minutes(now, -290),
    status_changed_at: minutes(now, -290),
  };
  switch (r.role) {
    case 'expiring':
      return { ...base, expires_at: minutes(now, 3 + (index % 12)) };
    case 'stale':
      return {
        ...base,
        status: 'queued',
        launched_at: null,
        expires_at: null,
        status_changed_at: minutes(now, -49 * 60),
      };
    case 'preparing':
      return {
        ...base,
        status: 'preparing',
        launched_at: null,
        expires_at: null,
        status_changed_at: minutes(now, -61),
      };
    case 'ended-moved':
      return { ...base, status: 'expired', expires_at: minutes(now, -10), status_changed_at: minutes(now, -8) };
    default:
      return { ...base, expires_at: minutes(now, 24 * 60) };
  }
}

/** Rows in the database and the matching pods, services and volumes in the simulator. */
export async function seedFleet(db: Db, sim: Sim, fleet: Fleet, now: Date): Promise<void> {
  for (const [index, r] of fleet.reservations.entries()) {
    await insertReservation(db, rowFor(r, now, index));
    if (r.role !== 'newer') {
      await insertDisk(db, {
        user_id: r.userId,
        disk_name: r.diskName,
        in_use: r.role !== 'ended-moved',
        reservation_id: r.role === 'ended-moved' ? null : r.id,
        ebs_volume_id: r.volumeId,
      });
    }
    if (r.role === 'newer')
      await db.query('update disks set in_use = true, reservation_id = $1 where disk_name = $2 and user_id = $3', [
        r.id,
        r.diskName,
        r.userId,
      ]);
    if (!r.podName) continue;
    const volumes = r.volumeId ? [{ name: 'home', awsElasticBlockStore: { volumeID: r.volumeId } }] : undefined;
    sim.kube.addPod({
      name: r.podName,
      namespace: RES_NS,
      labels: { 'reservation-id': r.id },
      ...(volumes && { volumes }),
    });
    sim.kube.addService({ name: `${r.podName}-ssh`, namespace: RES_NS, type: 'NodePort' });
    // Tagged as the origin tags a user's disk, which is what proves whose the volume is.
    if (r.volumeId)
      sim.aws.addVolume({
        volumeId: r.volumeId,
        sizeGiB: 20,
        attachedTo: r.podName,
        tags: { 'gpu-dev-user': r.userId, disk_name: r.diskName },
      });
  }
  for (const lab of fleet.labs) {
    const ending = lab.role === 'ending';
    await insertLab(db, {
      id: lab.id,
      status: ending ? 'ending' : 'ready',
      namespace: LAB_NS,
      novnc_host_port: lab.port,
      status_changed_at: minutes(now, ending ? -40 : -90),
      ending_since: ending ? minutes(now, -40) : null,
    });
    await db.query(`insert into port_reservations (lab_id, port, reserved_at) values ($1, $2, $3)`, [
      lab.id,
      lab.port,
      minutes(now, -90),
    ]);
    for (const pod of lab.pods) sim.kube.addPod({ name: pod, namespace: LAB_NS, labels: { 'lab-id': lab.id } });
    sim.kube.addService({ name: `lab-${lab.id.slice(0, 8)}-vnc`, namespace: LAB_NS, labels: { 'lab-id': lab.id } });
  }
}

export interface PodChange {
  type: 'update' | 'delete';
  pod: object;
}

/** What happens to the fleet at the start of a round: OOM kills, evictions, pods deleted behind our back, labs ending. */
export async function blowsAt(fleet: Fleet, round: number, sim: Sim, db: Db, now: Date): Promise<PodChange[]> {
  const changes: PodChange[] = [];
  for (const r of fleet.reservations) {
    if (!r.podName || !r.blowRounds.includes(round)) continue;
    const ref = { namespace: RES_NS, name: r.podName };
    if (r.role === 'oom') sim.kube.oomKill(ref);
    if (r.role === 'evicted') sim.kube.evict(ref);
    const pod = sim.kube.pod(ref);
    if (r.role === 'vanished') sim.kube.deleteBehindOurBack(ref);
    if (pod) changes.push({ type: r.role === 'vanished' ? 'delete' : 'update', pod });
  }
  for (const lab of fleet.labs) {
    // The platform binds its own time: the trigger would otherwise take the database's wall clock.
    if (lab.endingRound === round)
      await db.query(`update labs set status = 'ending', status_changed_at = $2 where id = $1 and status = 'ready'`, [
        lab.id,
        now,
      ]);
  }
  return changes;
}

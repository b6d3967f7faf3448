/*
 * A generated fleet in the database and the simulator, its blows (pods deleted behind our back,
 * evictions) and its outages, switched on and off round by round.
 */
import type { Db } from '../../shared/db/pool.js';
import type { Sim } from '../../sim/server.js';
import { insertDisk, insertLab, insertReservation } from '../support/fixtures.js';
import type { PodChange } from './fleet.js';
import { GOOD_NS, LAB_NS, PASSING_CONDITIONS, SECOND_NS } from './adversity.js';
import type { GeneratedFleet, GenReservation, Outage, VolumeCondition } from './adversity.js';

/** Longer than the functions' Kubernetes request timeout (KUBE_REQUEST_TIMEOUT_MS in world.ts). */
const LOST_ANSWER_MS = 3_200;

const minutes = (now: Date, n: number) => new Date(now.getTime() + n * 60_000);

function rowFor(r: GenReservation, now: Date) {
  const base = {
    reservation_id: r.id,
    user_id: r.userId,
    pod_name: r.podName,
    namespace: r.namespace,
    ebs_volume_id: r.volumeId,
    disk_name: r.diskName,
    created_at: minutes(now, -300),
    launched_at: minutes(now, -290),
    status_changed_at: minutes(now, -290),
    expires_at: minutes(now, r.expiresInMinutes),
  };
  return r.kind === 'ended'
    ? { ...base, status: 'expired', expires_at: minutes(now, -10), status_changed_at: minutes(now, -8) }
    : base;
}

export async function seedGenerated(db: Db, sim: Sim, fleet: GeneratedFleet, now: Date): Promise<void> {
  // The configured namespaces exist whether or not a pod is in them; only MISSING_NS does not.
  for (const namespace of [GOOD_NS, SECOND_NS, LAB_NS]) sim.kube.addNamespace(namespace);
  for (const r of fleet.reservations) await insertReservation(db, rowFor(r, now));
  for (const r of fleet.reservations.filter((x) => x.volumeId && x.kind !== 'newer')) {
    await insertDisk(db, {
      user_id: r.userId,
      disk_name: r.diskName,
      in_use: true,
      reservation_id: r.diskHolder,
      ebs_volume_id: r.volumeId,
    });
  }
  for (const r of fleet.reservations) {
    if (!r.ownPod || !r.podName) continue;
    const volumes = r.volumeId ? [{ name: 'home', awsElasticBlockStore: { volumeID: r.volumeId } }] : undefined;
    sim.kube.addPod({
      name: r.podName,
      namespace: r.namespace,
      labels: { 'reservation-id': r.id },
      ...(volumes && { volumes }),
    });
    sim.kube.addService({
      name: `${r.podName}-ssh`,
      namespace: r.namespace,
      type: 'NodePort',
      labels: { 'reservation-id': r.id },
    });
  }
  sim.aws.setVolumeTimings({ detachSeconds: 120 });
  for (const r of fleet.reservations.filter((x) => x.volumeId && x.kind !== 'newer')) {
    const holder = fleet.reservations.find((x) => x.id === r.diskHolder && x.ownPod);
    // Tagged as the origin tags a user's disk, which is what proves whose the volume is.
    const tags = { 'gpu-dev-user': r.userId, disk_name: r.diskName };
    sim.aws.addVolume({
      volumeId: r.volumeId!,
      sizeGiB: 20,
      tags,
      ...(holder?.podName && { attachedTo: holder.podName }),
    });
    if (r.volume) setCondition(sim, r.volumeId!, r.volume.condition);
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
    await db.query('insert into port_reservations (lab_id, port, reserved_at) values ($1, $2, $3)', [
      lab.id,
      lab.port,
      minutes(now, -90),
    ]);
    for (const pod of lab.pods) sim.kube.addPod({ name: pod, namespace: LAB_NS, labels: { 'lab-id': lab.id } });
  }
}

/** Pods deleted behind our back and evictions due at the start of `round`, as pod events. */
export function generatedBlows(fleet: GeneratedFleet, round: number, sim: Sim): PodChange[] {
  const changes: PodChange[] = [];
  for (const r of fleet.reservations.filter((x) => x.blowRound === round && x.podName)) {
    const ref = { namespace: r.namespace, name: r.podName! };
    if (r.kind === 'dead') sim.kube.evict(ref);
    const pod = sim.kube.pod(ref);
    if (r.kind === 'vanished') sim.kube.deleteBehindOurBack(ref);
    if (pod)
      changes.push({
        type: r.kind === 'vanished' ? 'delete' : 'update',
        pod: r.kind === 'vanished' ? pod : sim.kube.pod(ref)!,
      });
  }
  return changes;
}

function setCondition(sim: Sim, volumeId: string, condition: VolumeCondition): void {
  if (condition === 'attaching' || condition === 'detaching') sim.aws.setAttachmentState(volumeId, condition);
  else sim.aws.setVolumeState(volumeId, condition);
}

export const outageActive = (o: Outage, round: number) => round >= o.from && round <= o.to;

/**
 * Switches the outages of `round` on (and those that ended off), and ends the passing volume
 * states due to end; round 0 means no outage.
 */
export function applyRound(sim: Sim, fleet: GeneratedFleet, round: number): void {
  for (const r of fleet.reservations.filter(
    (x) => x.volume && PASSING_CONDITIONS.includes(x.volume.condition) && x.volume.until === round - 1,
  )) {
    if (sim.aws.volume(r.volumeId!))
      sim.aws.setVolumeState(r.volumeId!, r.volume!.condition === 'deleting' ? 'deleted' : 'available');
  }
  sim.faults.clear();
  sim.aws.clearFaults();
  for (const o of fleet.outages.filter((x) => outageActive(x, round))) {
    if (o.path && o.status === 0)
      sim.faults.add({ path: o.path, method: o.method, delayMs: LOST_ANSWER_MS, count: 1, label: o.kind });
    else if (o.path) sim.faults.add({ path: o.path, status: o.status, label: o.kind });
    if (o.action) sim.aws.addFault({ service: 'ec2', action: o.action, fault: { kind: 'throttle' } });
  }
}

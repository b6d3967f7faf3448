/*
 * The simulator for cleanup-pod's sweep benchmark, in a process of its own as the API server and
 * EC2 are, on the system clock (grace periods end in real time). Driven over IPC by
 * bench/teardown-sweep.ts: it seeds the active fleet (a labelled pod, its `-ssh` service and its
 * attached volume for every active reservation, and the snapshots of those disks) and the ended
 * reservations itself, with the ids the database rows carry, and reports its CPU, memory and the
 * calls it served, so the function's figures are the function's alone.
 */
import { startSim } from '../sim/server.js';
import type { Sim } from '../sim/server.js';

export const NAMESPACE = 'gpu-dev';

/** One reservation's objects, as its database row names them. */
export interface SeededReservation {
  reservationId: string;
  podName: string;
  volumeId: string;
}

export type TeardownSimCommand =
  | { type: 'seed-fleet'; reservations: SeededReservation[]; snapshots: number }
  | { type: 'seed-ended'; reservations: SeededReservation[] }
  | { type: 'add-function'; name: string }
  | { type: 'stats' };
type SimRequest = TeardownSimCommand & { id: number };

export interface TeardownSimStats {
  cpuMs: number;
  rssMiB: number;
  /** Since the previous stats: Kubernetes API calls, EC2 calls by action, Lambda invocations. */
  kubeCalls: number;
  ec2Calls: Record<string, number>;
  lambdaCalls: number;
  /** Since the previous stats: the volume ids DescribeVolumes calls named (ids or a volume-id filter). */
  describeVolumes: { calls: number; idsNamed: number; distinctIds: number; largestCall: number };
}

/** The volume ids one DescribeVolumes call names, as `VolumeId.N` or as values of a `volume-id` filter. */
function namedVolumeIds(params: Record<string, string>): string[] {
  const idFilters = new Set(
    Object.entries(params)
      .filter(([key, value]) => /^Filter\.\d+\.Name$/.test(key) && value === 'volume-id')
      .map(([key]) => key.split('.')[1]),
  );
  return Object.entries(params)
    .filter(
      ([key]) =>
        /^VolumeId\.\d+$/.test(key) || (/^Filter\.\d+\.Value\.\d+$/.test(key) && idFilters.has(key.split('.')[1])),
    )
    .map(([, value]) => value);
}

function seed(sim: Sim, reservations: SeededReservation[], ended: boolean): void {
  for (const { reservationId, podName, volumeId } of reservations) {
    sim.kube.addPod({
      name: podName,
      namespace: NAMESPACE,
      labels: { 'reservation-id': reservationId },
      volumes: [{ name: 'home', awsElasticBlockStore: { volumeID: volumeId } }],
    });
    // Older writers created `<pod>-ssh` without our label; the ended ones also carry a labelled service.
    sim.kube.addService({ name: `${podName}-ssh`, namespace: NAMESPACE, type: 'NodePort' });
    if (ended)
      sim.kube.addService({
        name: `${podName}-web`,
        namespace: NAMESPACE,
        labels: { 'reservation-id': reservationId },
      });
    sim.aws.addVolume({
      volumeId,
      sizeGiB: 100,
      attachedTo: podName,
      tags: { 'gpu-dev-user': `user-${reservationId}@example.com`, disk_name: 'home' },
    });
  }
}

function seedSnapshots(sim: Sim, fleet: SeededReservation[], count: number): void {
  for (let n = 0; n < count; n++) {
    const { reservationId, volumeId } = fleet[n % fleet.length]!;
    sim.aws.addSnapshot({
      snapshotId: `snap-e${n.toString(16).padStart(16, '0')}`,
      volumeId,
      tags: { 'gpu-dev-user': `user-${reservationId}@example.com`, disk_name: 'home' },
    });
  }
}

function stats(sim: Sim, kubeCalls: number): TeardownSimStats {
  const calls = sim.aws.calls();
  sim.aws.clear();
  const ec2Calls: Record<string, number> = {};
  const describeVolumes = { calls: 0, idsNamed: 0, distinctIds: 0, largestCall: 0 };
  const distinct = new Set<string>();
  for (const call of calls.filter((c) => c.service === 'ec2')) {
    ec2Calls[call.action] = (ec2Calls[call.action] ?? 0) + 1;
    if (call.action !== 'DescribeVolumes') continue;
    const ids = namedVolumeIds(call.params);
    describeVolumes.calls += 1;
    describeVolumes.idsNamed += ids.length;
    describeVolumes.largestCall = Math.max(describeVolumes.largestCall, ids.length);
    for (const id of ids) distinct.add(id);
  }
  describeVolumes.distinctIds = distinct.size;
  const cpu = process.cpuUsage();
  return {
    cpuMs: (cpu.user + cpu.system) / 1000,
    rssMiB: process.memoryUsage().rss / 2 ** 20,
    kubeCalls,
    ec2Calls,
    lambdaCalls: calls.filter((c) => c.service === 'lambda').length,
    describeVolumes,
  };
}

async function main(): Promise<void> {
  const sim = await startSim({});
  sim.kube.addNamespace(NAMESPACE);
  let kubeCalls = 0;
  // The simulator's own log keeps the latest 10,000 requests; a running count outlives that.
  const countCalls = () => {
    kubeCalls += sim.requests.all().filter((request) => /^\/(api|apis)\//.test(request.path)).length;
    sim.requests.clear();
  };
  const counter = setInterval(countCalls, 200);
  const answer = (message: object) => process.send!(message);
  process.on('message', (message: SimRequest) => {
    if (message.type === 'seed-fleet') {
      seed(sim, message.reservations, false);
      seedSnapshots(sim, message.reservations, message.snapshots);
    } else if (message.type === 'seed-ended') {
      seed(sim, message.reservations, true);
    } else if (message.type === 'add-function') {
      sim.aws.addFunction(message.name);
    } else {
      countCalls();
      answer({ id: message.id, stats: stats(sim, kubeCalls) });
      kubeCalls = 0;
      return;
    }
    // Seeding is not a call the function made.
    sim.requests.clear();
    sim.aws.clear();
    answer({ id: message.id });
  });
  process.once('disconnect', () => {
    clearInterval(counter);
    void sim.close().then(() => process.exit(0));
  });
  answer({ ready: { url: sim.url, token: sim.token } });
}

if (process.send) await main();

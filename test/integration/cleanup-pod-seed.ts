/*
 * An ended reservation as cleanup-pod finds it: the row, the user's disk held by it, and in the
 * simulated cluster its labelled pod (mounting the EBS volume), the `<pod>-ssh` service that older
 * writers created without our label (selecting the pod by `reservation: <pod name>`, as the origin's
 * processor does), a labelled service, and the attached volume.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll } from 'vitest';
import type { FunctionHarness } from '../support/function-harness.js';
import { insertDisk, insertReservation } from '../support/fixtures.js';

let serial = 0;

export interface EndedReservation {
  id: string;
  podName: string;
  volumeId: string | null;
  diskId: string;
}

export async function seedEndedReservation(
  h: FunctionHarness,
  options: { volume?: boolean; status?: string } = {},
): Promise<EndedReservation> {
  const n = ++serial;
  const id = `cccc${String(n).padStart(4, '0')}-0000-4000-8000-000000000000`;
  const podName = `gpu-dev-${id.slice(0, 8)}`;
  const volumeId = options.volume === false ? null : `vol-0000000000000${String(n).padStart(4, '0')}`;
  await insertReservation(h.deps.pool, {
    reservation_id: id,
    status: options.status ?? 'expired',
    pod_name: podName,
    namespace: 'gpu-dev',
    ebs_volume_id: volumeId,
    disk_name: `home-${n}`,
    status_changed_at: h.clock.now(),
  });
  const disk = await insertDisk(h.deps.pool, {
    user_id: 'dev@example.com',
    disk_name: `home-${n}`,
    in_use: true,
    reservation_id: id,
    ebs_volume_id: volumeId,
  });
  const volumes = volumeId ? [{ name: 'home', awsElasticBlockStore: { volumeID: volumeId } }] : undefined;
  h.sim.kube.addPod({
    name: podName,
    namespace: 'gpu-dev',
    labels: { 'reservation-id': id, reservation: podName },
    ...(volumes && { volumes }),
  });
  h.sim.kube.addService({
    name: `${podName}-ssh`,
    namespace: 'gpu-dev',
    type: 'NodePort',
    selector: { reservation: podName },
  });
  h.sim.kube.addService({ name: `${podName}-web`, namespace: 'gpu-dev', labels: { 'reservation-id': id } });
  if (volumeId) h.sim.aws.addVolume({ volumeId, sizeGiB: 50, attachedTo: podName });
  return { id, podName, volumeId, diskId: disk.disk_id };
}

/**
 * Runs `run` on a clock that jumps `seconds` ahead as soon as a request reaches the simulator: the
 * run's start is read before, so that much of its budget is gone once it works on the cluster.
 */
export async function withClockJumpAtFirstRequest<T>(
  h: FunctionHarness,
  seconds: number,
  run: () => Promise<T>,
): Promise<T> {
  const requestsBefore = h.sim.requests.all().length;
  const tick = h.clock.now.bind(h.clock);
  h.clock.now = () => new Date(tick().getTime() + (h.sim.requests.all().length > requestsBefore ? seconds * 1000 : 0));
  try {
    return await run();
  } finally {
    h.clock.now = tick;
  }
}

export const teardownOf = async (h: FunctionHarness, id: string) =>
  (await h.deps.pool.query('select step, attempts, last_error from cleanup_progress where reservation_id = $1', [id]))
    .rows[0];

export const diskOf = async (h: FunctionHarness, diskId: string) =>
  (await h.deps.pool.query('select in_use, reservation_id from disks where disk_id = $1', [diskId])).rows[0];

/** The step transitions recorded for a teardown, in order (entries about objects left alone apart). */
export const transitionsOf = async (h: FunctionHarness, id: string): Promise<string[]> =>
  (
    await h.deps.pool.query(
      `select action from decision_log where entity_id = $1 and function = 'cleanup-pod' and action like '%->%' order by id`,
      [id],
    )
  ).rows.map((row) => row.action as string);

/** What a teardown left alone, as decision-log actions (`left_alone:<kind>/<name>`). */
export const leftAloneOf = async (h: FunctionHarness, id: string): Promise<string[]> =>
  (
    await h.deps.pool.query(
      `select action from decision_log where entity_id = $1 and function = 'cleanup-pod' and action like 'left_alone:%' order by id`,
      [id],
    )
  ).rows.map((row) => row.action as string);

/**
 * An OpenFaaS gateway on loopback that accepts every async call (202), so staged events are
 * written to the outbox and delivered. Register before useFunctionHarness: its URL is read then.
 */
export function useAcceptingGateway(): { url: string } {
  const gateway = { url: '' };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(202).end());
  });
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    gateway.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return gateway;
}

/** The shutdown snapshots requested for a reservation: its pod.cleaned events in the outbox. */
export const snapshotRequestsOf = async (h: FunctionHarness, id: string): Promise<{ volumeId: string | null }[]> =>
  (
    await h.deps.pool.query(`select distinct data from event_outbox where type like '%pod.cleaned' and subject = $1`, [
      id,
    ])
  ).rows.map((row) => row.data as { volumeId: string | null });

/*
 * The final state of a run, free of what legitimately differs between two runs of the same fleet
 * (generated ids, timestamps, attempt counters): what a user or an operator would see.
 */
import type { Db } from '../../shared/db/pool.js';
import type { Sim } from '../../sim/server.js';
import type { PublishedEvent } from './bus.js';

async function rows(db: Db, text: string): Promise<string[]> {
  return (await db.query(text)).rows.map((row) => JSON.stringify(row));
}

export async function finalState(db: Db, sim: Sim, published: PublishedEvent[]): Promise<Record<string, string[]>> {
  const events = new Set(
    published.map(
      (e) => `${e.type} ${e.subject ?? ''} ${e.type.endsWith('.warned') ? String(e.data.levelMinutes) : ''}`,
    ),
  );
  return {
    reservations: await rows(
      db,
      'select reservation_id, status, oom_count, oom_container from reservations order by 1',
    ),
    disks: await rows(db, 'select disk_name, in_use, reservation_id, is_deleted, snapshot_count from disks order by 1'),
    labs: await rows(db, 'select id, status, finished_at is not null as finished from labs order by 1'),
    ports: await rows(db, 'select lab_id, port, released_at is not null as released from port_reservations order by 1'),
    teardowns: await rows(db, 'select reservation_id, step from cleanup_progress order by 1'),
    snapshots: await rows(db, 'select reservation_id, volume_id, kind, state from snapshots order by 1, 2'),
    oomKills: await rows(
      db,
      'select reservation_id, container, restart_count, notice_state from oom_kills order by 1, 2, 3',
    ),
    warnings: await rows(db, `select reservation_id, level_minutes, state from warning_ledger order by 1, 2`),
    pods: sim.kube
      .list('pods')
      .map((pod) => `${pod.metadata.namespace}/${pod.metadata.name}`)
      .sort(),
    services: sim.kube
      .list('services')
      .map((s) => `${s.metadata.namespace}/${s.metadata.name}`)
      .sort(),
    volumes: sim.aws
      .volumes()
      .map((v) => `${v.volumeId} ${v.state}`)
      .sort(),
    ec2Snapshots: sim.aws
      .snapshots()
      .map((s) => `${s.volumeId} ${s.state} ${s.tags['gpu-dev-snapshot-type'] ?? ''}`)
      .sort(),
    notices: sim.kube
      .list('pods')
      .flatMap((pod) =>
        sim.kube.readFile({ namespace: pod.metadata.namespace!, name: pod.metadata.name }, '/home/dev/OOM_DETECTED.txt')
          ? [pod.metadata.name]
          : [],
      )
      .sort(),
    events: [...events].sort(),
  };
}

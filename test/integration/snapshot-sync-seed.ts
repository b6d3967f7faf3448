/*
 * History for retention tests: a user's disk with its volume, and completed snapshots of it in
 * the simulated EC2 and (unless untracked) in our table, ours (tagged) unless said otherwise.
 */
import { randomUUID } from 'node:crypto';
import type { TestDatabase } from '../support/database.js';
import { insertDisk } from '../support/fixtures.js';
import type { SyncHarness } from './snapshot-sync-harness.js';

export const DAY_MS = 86_400_000;

export interface SeededDisk {
  diskId: string;
  userId: string;
  diskName: string;
  volumeId: string;
}

export async function seedDisk(h: SyncHarness, db: TestDatabase, userId = 'dev@example.com'): Promise<SeededDisk> {
  const { volumeId } = h.aws.sim.addVolume({ sizeGiB: 50 });
  const row = await insertDisk(db.pool, { user_id: userId, disk_name: `home-${randomUUID().slice(0, 6)}` });
  return { diskId: row.disk_id, userId, diskName: row.disk_name, volumeId };
}

/** A completed snapshot of the disk, `ageDays` old; returns its id. */
export async function seedCompleted(
  h: SyncHarness,
  db: TestDatabase,
  d: SeededDisk,
  ageDays: number,
  options: { ours?: boolean; tracked?: boolean } = {},
): Promise<string> {
  const startTime = new Date(h.clock.now().getTime() - ageDays * DAY_MS);
  const marker: Record<string, string> = options.ours === false ? {} : { 'devenv-lifecycle/managed': 'true' };
  const tags = { 'gpu-dev-user': d.userId, disk_name: d.diskName, ...marker };
  const { snapshotId } = h.aws.sim.addSnapshot({ volumeId: d.volumeId, startTime, tags });
  if (options.tracked === false) return snapshotId;
  await db.pool.query(
    `insert into snapshots (kind, snapshot_id, volume_id, disk_id, user_id, disk_name, state, requested_at, started_at, completed_at)
     values ('shutdown', $1, $2, $3, $4, $5, 'completed', $6, $6, $6)`,
    [snapshotId, d.volumeId, d.diskId, d.userId, d.diskName, startTime],
  );
  return snapshotId;
}

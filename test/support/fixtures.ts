/*
 * Insert origin rows in any state with explicit timestamps. Every field can be overridden; the
 * defaults describe an active reservation that expires in an hour.
 */
import { randomUUID } from 'node:crypto';
import type { Db } from '../../shared/db/pool.js';

export interface ReservationFixture {
  reservation_id: string;
  user_id: string;
  status: string;
  created_at: Date | string;
  launched_at: Date | string | null;
  expires_at: Date | string | null;
  status_changed_at: Date | string;
  pod_name: string | null;
  namespace: string | null;
  disk_name: string | null;
  ebs_volume_id: string | null;
  oom_count: number;
}

export const FIXTURE_NOW = new Date('2026-06-01T12:00:00Z');

const minutesFrom = (base: Date, minutes: number) => new Date(base.getTime() + minutes * 60_000);

export async function insertReservation(
  db: Db,
  overrides: Partial<ReservationFixture> = {},
): Promise<ReservationFixture> {
  const id = overrides.reservation_id ?? randomUUID();
  const row: ReservationFixture = {
    reservation_id: id,
    user_id: 'dev@example.com',
    status: 'active',
    created_at: minutesFrom(FIXTURE_NOW, -120),
    launched_at: minutesFrom(FIXTURE_NOW, -110),
    expires_at: minutesFrom(FIXTURE_NOW, 60),
    status_changed_at: minutesFrom(FIXTURE_NOW, -110),
    pod_name: `gpu-dev-${id.slice(0, 8)}`,
    namespace: 'gpu-dev',
    disk_name: null,
    ebs_volume_id: null,
    oom_count: 0,
    ...overrides,
  };
  await insertRow(db, 'reservations', row);
  return row;
}

export interface DiskFixture {
  disk_id: string;
  user_id: string;
  disk_name: string;
  in_use: boolean;
  reservation_id: string | null;
  ebs_volume_id: string | null;
  is_deleted: boolean;
  delete_date: string | null;
  pending_snapshot_count: number;
  snapshot_count: number;
}

export async function insertDisk(db: Db, overrides: Partial<DiskFixture> = {}): Promise<DiskFixture> {
  const row: DiskFixture = {
    disk_id: randomUUID(),
    user_id: 'dev@example.com',
    disk_name: `disk-${randomUUID().slice(0, 8)}`,
    in_use: false,
    reservation_id: null,
    ebs_volume_id: null,
    is_deleted: false,
    delete_date: null,
    pending_snapshot_count: 0,
    snapshot_count: 0,
    ...overrides,
  };
  await insertRow(db, 'disks', row);
  return row;
}

export interface LabFixture {
  id: string;
  owner_id: string;
  status: string;
  runtime: string;
  namespace: string | null;
  novnc_host_port: number | null;
  created_at: Date | string;
  updated_at: Date | string;
  status_changed_at: Date | string;
  ending_since: Date | string | null;
}

export async function insertLab(db: Db, overrides: Partial<LabFixture> = {}): Promise<LabFixture> {
  const row: LabFixture = {
    id: randomUUID(),
    owner_id: randomUUID(),
    status: 'ready',
    runtime: 'k8s',
    namespace: 'octolab-labs',
    novnc_host_port: null,
    created_at: minutesFrom(FIXTURE_NOW, -90),
    updated_at: minutesFrom(FIXTURE_NOW, -90),
    status_changed_at: minutesFrom(FIXTURE_NOW, -90),
    ending_since: null,
    ...overrides,
  };
  await insertRow(db, 'labs', row);
  return row;
}

async function insertRow(db: Db, table: string, row: object): Promise<void> {
  const columns = Object.keys(row);
  const placeholders = columns.map((_, index) => `$${index + 1}`);
  await db.query(
    `insert into ${table} (${columns.join(', ')}) values (${placeholders.join(', ')})`,
    Object.values(row),
  );
}

/*
 * Put the demo fleet in the database, replacing any earlier demo rows so every start shows a fresh
 * story with times relative to now. Only rows with the demo ids are touched.
 */
import type pg from 'pg';
import { withTransaction } from '../shared/db/transaction.js';
import { DEMO_LAB_NAMESPACE, DEMO_NAMESPACE, demoLabs, demoReservations, podNameFor } from './demo-plan.js';
import type { DemoLab, DemoReservation } from './demo-plan.js';

const minutesFrom = (now: Date, minutes: number) => new Date(now.getTime() + minutes * 60_000);

export async function seedDemoDatabase(pool: pg.Pool, now: Date): Promise<void> {
  await withTransaction(pool, async (client) => {
    const reservationIds = demoReservations.map((r) => r.id);
    const labIds = demoLabs.map((lab) => lab.id);
    await client.query('delete from disks where reservation_id = any($1::text[]) or disk_name = any($2::text[])', [
      reservationIds,
      demoReservations.flatMap((r) => (r.diskName ? [r.diskName] : [])),
    ]);
    await client.query('delete from reservations where reservation_id = any($1::text[])', [reservationIds]);
    await client.query('delete from labs where id = any($1::uuid[])', [labIds]);
    for (const reservation of demoReservations) await insertReservation(client, reservation, now);
    for (const lab of demoLabs) await insertLab(client, lab, now);
  });
}

async function insertReservation(client: pg.PoolClient, r: DemoReservation, now: Date): Promise<void> {
  const changedAt = minutesFrom(now, -r.statusChangedMinutesAgo);
  const hasPod = r.pod !== 'none';
  await client.query(
    `insert into reservations (reservation_id, user_id, status, created_at, launched_at, expires_at, status_changed_at,
       pod_name, namespace, disk_name, ebs_volume_id, duration_hours, name)
     values ($1, $2, $3, $4, $5, $6, $4, $7, $8, $9, $10, $11, $12)`,
    [
      r.id,
      r.userId,
      r.status,
      changedAt,
      r.status === 'active' ? changedAt : null,
      r.expiresInMinutes === null ? null : minutesFrom(now, r.expiresInMinutes),
      hasPod ? podNameFor(r.id) : null,
      hasPod ? DEMO_NAMESPACE : null,
      r.diskName ?? null,
      r.volumeId ?? null,
      r.expiresInMinutes === null ? 4 : (r.statusChangedMinutesAgo + r.expiresInMinutes) / 60,
      r.story,
    ],
  );
  if (r.diskName) {
    await client.query(
      `insert into disks (user_id, disk_name, in_use, reservation_id, ebs_volume_id, size_gb, last_used)
       values ($1, $2, true, $3, $4, 100, $5)`,
      [r.userId, r.diskName, r.id, r.volumeId ?? null, now],
    );
  }
}

async function insertLab(client: pg.PoolClient, lab: DemoLab, now: Date): Promise<void> {
  const changedAt = minutesFrom(now, -lab.statusChangedMinutesAgo);
  await client.query(
    `insert into labs (id, owner_id, status, runtime, namespace, novnc_host_port, created_at, updated_at, status_changed_at, ending_since)
     values ($1, $2, $3, 'k8s', $4, $5, $6, $7, $7, $8)`,
    [
      lab.id,
      lab.ownerId,
      lab.status,
      DEMO_LAB_NAMESPACE,
      lab.novncPort,
      minutesFrom(changedAt, -30),
      changedAt,
      lab.status === 'ending' ? changedAt : null,
    ],
  );
  await client.query(`insert into port_reservations (lab_id, kind, port, reserved_at) values ($1, 'novnc', $2, $3)`, [
    lab.id,
    lab.novncPort,
    changedAt,
  ]);
}

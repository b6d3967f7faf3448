import { describe, expect, it } from 'vitest';
import {
  overdueReservations,
  overdueWaiting,
  reservationsDueForWarning,
} from '../../shared/db/queries/reservations.js';
import { demoLabs, demoReservations } from '../../local/demo-plan.js';
import { seedDemoDatabase } from '../../local/demo-seed-db.js';
import { useTestDatabase } from '../support/database.js';

const db = useTestDatabase();
const now = new Date('2026-06-01T12:00:00Z');

describe('demo seed', () => {
  it('can run at every start, replacing the earlier demo rows', async () => {
    await seedDemoDatabase(db.pool, new Date('2026-05-01T00:00:00Z'));
    await seedDemoDatabase(db.pool, now);
    const { rows } = await db.pool.query<{ r: string; l: string; d: string }>(
      'select (select count(*) from reservations) r, (select count(*) from labs) l, (select count(*) from disks) d',
    );
    expect(rows[0]).toEqual({ r: String(demoReservations.length), l: String(demoLabs.length), d: '3' });
  });

  it('has something due for every sweep, relative to the start time', async () => {
    await seedDemoDatabase(db.pool, now);
    expect((await reservationsDueForWarning(db.pool, now, [30, 15, 5], 10)).length).toBe(3);
    expect((await overdueReservations(db.pool, now, 120, 10)).length).toBe(1);
    expect((await overdueWaiting(db.pool, now, { preparingMinutes: 60, queueHours: 48 }, 10)).length).toBe(2);
    const { rows } = await db.pool.query(
      `select count(*)::int n from labs where status = 'ending' and ending_since < $1::timestamptz - interval '30 minutes'`,
      [now],
    );
    expect(rows[0].n).toBe(2);
  });
});

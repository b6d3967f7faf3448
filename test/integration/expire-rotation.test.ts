/*
 * expire's pod health check rotation (migration 0005): every active reservation, however it became
 * active, is in the rotation; never-checked ones come first, then the longest unchecked; a
 * reservation that leaves 'active' leaves the rotation; the batch is read through the index.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { recordObservations, reservationsToCheck } from '../../shared/db/queries/pod-observations.js';
import { useTestDatabase } from '../support/database.js';
import { FIXTURE_NOW, insertReservation } from '../support/fixtures.js';

const db = useTestDatabase();
const at = (minutes: number) => new Date(FIXTURE_NOW.getTime() + minutes * 60_000);
const ids = async (limit = 10) => (await reservationsToCheck(db.pool, limit)).map((row) => row.reservation_id);

beforeEach(async () => {
  await db.pool.query('delete from reservations');
});

describe('pod check rotation', () => {
  it('enrols reservations that are inserted active or become active later, and drops those that leave', async () => {
    await insertReservation(db.pool, { reservation_id: 'rot-a-inserted-active' });
    await insertReservation(db.pool, { reservation_id: 'rot-b-pending', status: 'pending' });
    expect(await ids()).toEqual(['rot-a-inserted-active']);
    await db.pool.query(`update reservations set status = 'active' where reservation_id = 'rot-b-pending'`);
    expect(await ids()).toEqual(['rot-a-inserted-active', 'rot-b-pending']);
    await db.pool.query(`update reservations set status = 'expired' where reservation_id = 'rot-a-inserted-active'`);
    expect(await ids()).toEqual(['rot-b-pending']);
    const { rows } = await db.pool.query('select reservation_id from pod_observations');
    expect(rows).toEqual([{ reservation_id: 'rot-b-pending' }]);
  });

  it('visits never-checked reservations first, then the longest unchecked, a batch at a time', async () => {
    for (const id of ['rot-1', 'rot-2', 'rot-3', 'rot-4']) await insertReservation(db.pool, { reservation_id: id });
    await recordObservations(db.pool, [{ reservationId: 'rot-1', kind: 'present' }], at(-5));
    await recordObservations(db.pool, [{ reservationId: 'rot-3', kind: 'unknown', error: 'timeout' }], at(-10));
    expect(await ids(3)).toEqual(['rot-2', 'rot-4', 'rot-3']);
    await recordObservations(
      db.pool,
      [
        { reservationId: 'rot-2', kind: 'present' },
        { reservationId: 'rot-4', kind: 'absent' },
        { reservationId: 'rot-3', kind: 'present' },
      ],
      at(0),
    );
    expect(await ids(2)).toEqual(['rot-1', 'rot-2']);
  });

  it('keeps reservations without a pod name out of the batch', async () => {
    await insertReservation(db.pool, { reservation_id: 'rot-nopod', pod_name: null });
    await insertReservation(db.pool, { reservation_id: 'rot-pod' });
    expect(await ids()).toEqual(['rot-pod']);
  });

  it('keeps reservations without a deadline out of the batch, so they cannot hold its head for good', async () => {
    await insertReservation(db.pool, { reservation_id: 'rot-0-nodeadline', expires_at: null });
    await insertReservation(db.pool, { reservation_id: 'rot-1-deadline' });
    expect(await ids(1)).toEqual(['rot-1-deadline']);
    await recordObservations(db.pool, [{ reservationId: 'rot-1-deadline', kind: 'present' }], at(0));
    expect(await ids(1)).toEqual(['rot-1-deadline']);
  });

  it('reads the next batch through the rotation index, not by sorting the fleet', async () => {
    await db.pool.query(
      `insert into reservations (reservation_id, user_id, status, expires_at, pod_name, namespace)
       select 'rot-fleet-' || i, 'u', 'active', $1, 'gpu-dev-' || i, 'gpu-dev' from generate_series(1, 5000) as i`,
      [at(120)],
    );
    await db.pool.query('analyze reservations, pod_observations');
    const { rows } = await db.pool.query(`explain ${await rotationSql()}`, [200]);
    const plan = rows.map((row: { 'QUERY PLAN': string }) => row['QUERY PLAN']).join('\n');
    expect(plan).toContain('pod_observations_rotation');
    expect(plan).not.toMatch(/Sort/);
  });
});

/** The rotation's statement, as the query module sends it. */
async function rotationSql(): Promise<string> {
  let text = '';
  await reservationsToCheck({ query: async (sql: string) => ((text = sql), { rows: [] }) } as never, 200);
  return text;
}

import { describe, expect, it } from 'vitest';
import { recordObservations, reservationsToCheck } from '../../shared/db/queries/pod-observations.js';
import {
  activeWithoutDeadline,
  endReservations,
  overdueReservations,
  overdueWaiting,
  reservationsDueForWarning,
} from '../../shared/db/queries/reservations.js';
import type { EndRequest } from '../../shared/db/queries/reservations.js';
import { useTestDatabase } from '../support/database.js';
import { insertReservation } from '../support/fixtures.js';

const db = useTestDatabase();
const now = new Date('2026-06-01T12:00:00Z');
const at = (minutes: number) => new Date(now.getTime() + minutes * 60_000);
const endReservation = async (request: EndRequest) => (await endReservations(db.pool, [request]))[0];

describe('reservation sweeps', () => {
  it('finds overdue, due-for-warning, waiting and deadline-less reservations', async () => {
    await db.pool.query('delete from reservations');
    const overdue = await insertReservation(db.pool, { expires_at: at(-10) });
    await insertReservation(db.pool, { expires_at: at(-1) }); // inside grace
    const soon = await insertReservation(db.pool, { expires_at: at(20) });
    await insertReservation(db.pool, { expires_at: at(90) });
    await insertReservation(db.pool, { status: 'expired', expires_at: at(-30) });
    const noDeadline = await insertReservation(db.pool, { expires_at: null });
    const stuck = await insertReservation(db.pool, {
      status: 'preparing',
      created_at: at(-30),
      status_changed_at: at(-61),
    });
    await insertReservation(db.pool, { status: 'preparing', created_at: at(-600), status_changed_at: at(-5) });
    const stale = await insertReservation(db.pool, { status: 'queued', status_changed_at: at(-49 * 60) });

    expect((await overdueReservations(db.pool, now, 120, 10)).map((r) => r.reservation_id)).toEqual([
      overdue.reservation_id,
    ]);
    expect((await reservationsDueForWarning(db.pool, now, [30, 15, 5], 10)).map((r) => r.reservation_id)).toEqual([
      soon.reservation_id,
    ]);
    expect(await activeWithoutDeadline(db.pool, 10)).toEqual([noDeadline.reservation_id]);
    expect(
      (await overdueWaiting(db.pool, now, { preparingMinutes: 60, queueHours: 48 }, 10)).map((r) => r.reservation_id),
    ).toEqual([stale.reservation_id, stuck.reservation_id]);
  });
});

describe('endReservation compare-and-set', () => {
  it('expires a reservation whose deadline and status are as read, once', async () => {
    const row = await insertReservation(db.pool, { expires_at: at(-10) });
    const request = {
      reservationId: row.reservation_id,
      from: 'active',
      to: 'expired' as const,
      reason: 'deadline',
      expectedExpiresAt: at(-10),
      recordReason: false,
      now,
    };
    const ended = await endReservation(request);
    expect(ended).toMatchObject({ status: 'expired', status_changed_at: now });
    expect(await endReservation(request)).toBeUndefined();
    const { rows } = await db.pool.query(
      'select reservation_ended, failure_reason, status_history from reservations where reservation_id = $1',
      [row.reservation_id],
    );
    expect(rows[0]).toMatchObject({ reservation_ended: now, failure_reason: null });
    expect(rows[0].status_history).toEqual([
      { status: 'expired', at: '2026-06-01T12:00:00+00:00', reason: 'deadline', by: 'devenv-lifecycle' },
    ]);
  });

  it('loses to an extension that landed after the read (A-5)', async () => {
    const row = await insertReservation(db.pool, { expires_at: at(-10) });
    await db.pool.query('update reservations set expires_at = $2 where reservation_id = $1', [
      row.reservation_id,
      at(60),
    ]);
    const ended = await endReservation({
      reservationId: row.reservation_id,
      from: 'active',
      to: 'expired',
      reason: 'deadline',
      expectedExpiresAt: at(-10),
      recordReason: false,
      now,
    });
    expect(ended).toBeUndefined();
    const { rows } = await db.pool.query('select status from reservations where reservation_id = $1', [
      row.reservation_id,
    ]);
    expect(rows[0].status).toBe('active');
  });

  it('in a batch, ends only the rows still as read: an extended one in the same statement stays active', async () => {
    const due = await insertReservation(db.pool, { expires_at: at(-10) });
    const extended = await insertReservation(db.pool, { expires_at: at(-10) });
    await db.pool.query('update reservations set expires_at = $2 where reservation_id = $1', [
      extended.reservation_id,
      at(60),
    ]);
    const request = (id: string): EndRequest => ({
      reservationId: id,
      from: 'active',
      to: 'expired',
      reason: 'deadline',
      expectedExpiresAt: at(-10),
      recordReason: false,
      now,
    });
    const ended = await endReservations(db.pool, [request(due.reservation_id), request(extended.reservation_id)]);
    expect(ended.map((r) => r.reservation_id)).toEqual([due.reservation_id]);
    const { rows } = await db.pool.query('select status, expires_at from reservations where reservation_id = $1', [
      extended.reservation_id,
    ]);
    expect(rows[0]).toEqual({ status: 'active', expires_at: at(60) });
  });

  it('loses to a status change in between', async () => {
    const row = await insertReservation(db.pool, { status: 'preparing', status_changed_at: at(-90) });
    await db.pool.query(`update reservations set status = 'active' where reservation_id = $1`, [row.reservation_id]);
    const ended = await endReservation({
      reservationId: row.reservation_id,
      from: 'preparing',
      to: 'failed',
      reason: 'stuck',
      expectedStatusChangedAt: at(-90),
      recordReason: true,
      now,
    });
    expect(ended).toBeUndefined();
  });

  it('records the reason and the failed/cancelled time when asked', async () => {
    const row = await insertReservation(db.pool, { status: 'queued', status_changed_at: at(-3000) });
    await endReservation({
      reservationId: row.reservation_id,
      from: 'queued',
      to: 'cancelled',
      reason: 'Stale reservation - exceeded 48 hour queue time',
      expectedStatusChangedAt: at(-3000),
      recordReason: true,
      now,
    });
    const { rows } = await db.pool.query(
      'select status, failure_reason, cancelled_at, failed_at from reservations where reservation_id = $1',
      [row.reservation_id],
    );
    expect(rows[0]).toEqual({
      status: 'cancelled',
      failure_reason: 'Stale reservation - exceeded 48 hour queue time',
      cancelled_at: now,
      failed_at: null,
    });
  });
});

describe('pod observations', () => {
  it('rotates through active reservations oldest-checked first and remembers the first absence', async () => {
    await db.pool.query('delete from reservations');
    const a = await insertReservation(db.pool, { reservation_id: 'a' });
    const b = await insertReservation(db.pool, { reservation_id: 'b' });
    await insertReservation(db.pool, { reservation_id: 'c', pod_name: null });
    expect((await reservationsToCheck(db.pool, 10)).map((r) => r.reservation_id)).toEqual(['a', 'b']);

    await recordObservations(db.pool, [{ reservationId: 'a', kind: 'absent' }], at(0));
    expect((await reservationsToCheck(db.pool, 1)).map((r) => r.reservation_id)).toEqual(['b']);
    await recordObservations(
      db.pool,
      [
        { reservationId: 'a', kind: 'unknown', error: 'HTTP 500' },
        { reservationId: 'b', kind: 'present' },
      ],
      at(1),
    );
    await recordObservations(db.pool, [{ reservationId: 'a', kind: 'absent' }], at(2));
    const [first] = (await reservationsToCheck(db.pool, 10)).filter((r) => r.reservation_id === a.reservation_id);
    expect(first!.absent_since).toEqual(at(0));

    await recordObservations(db.pool, [{ reservationId: 'a', kind: 'present' }], at(3));
    const again = (await reservationsToCheck(db.pool, 10)).find((r) => r.reservation_id === 'a');
    expect(again!.absent_since).toBeNull();
    expect(b.reservation_id).toBe('b');
  });
});

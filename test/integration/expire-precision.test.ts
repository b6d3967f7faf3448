/*
 * Timestamps written by others carry microseconds (PostgreSQL's now(), Python's datetime), while a
 * JavaScript Date holds milliseconds. A compare-and-set on a value read back into a Date must still
 * match the row it was read from, or a reservation would never expire and a stuck one never end;
 * and the warning ledger, keyed by the deadline as read, must still recognise the deadline.
 */
import { describe, expect, it } from 'vitest';
import { expire } from '../../functions/expire/handler.js';
import { warn } from '../../functions/warn/handler.js';
import { reservationsDueForWarning } from '../../shared/db/queries/reservations.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertReservation } from '../support/fixtures.js';

const h = useFunctionHarness();

async function statusOf(id: string): Promise<string> {
  const { rows } = await h.deps.pool.query('select status from reservations where reservation_id = $1', [id]);
  return (rows[0] as { status: string }).status;
}

describe('compare-and-set on timestamps with microseconds', () => {
  it('expires a reservation whose deadline has microseconds', async () => {
    await insertReservation(h.deps.pool, {
      reservation_id: 'gggg0001-micro',
      expires_at: '2026-06-01 11:50:00.123456+00',
    });
    const result = await h.schedule(expire);
    expect(result.summary).toMatchObject({ expired: 1, conflicts: 0 });
    expect(await statusOf('gggg0001-micro')).toBe('expired');
  });

  it('fails a stuck preparing and cancels a stale queue whose status time has microseconds', async () => {
    await insertReservation(h.deps.pool, {
      reservation_id: 'gggg0002-prep',
      status: 'preparing',
      status_changed_at: '2026-06-01 10:00:00.654321+00',
      pod_name: null,
    });
    await insertReservation(h.deps.pool, {
      reservation_id: 'gggg0003-queued',
      status: 'queued',
      status_changed_at: '2026-05-29 10:00:00.000001+00',
      pod_name: null,
    });
    const result = await h.schedule(expire);
    expect(result.summary).toMatchObject({ failed_stuck_preparing: 1, stale_cancelled: 1, conflicts: 0 });
    expect(await statusOf('gggg0002-prep')).toBe('failed');
    expect(await statusOf('gggg0003-queued')).toBe('cancelled');
  });

  it('warns once per level for a deadline with microseconds', async () => {
    await insertReservation(h.deps.pool, {
      reservation_id: 'gggg0004-warn',
      pod_name: 'gpu-dev-gggg0004',
      expires_at: '2026-06-01 12:20:00.999999+00',
    });
    h.sim.kube.addPod({
      namespace: 'gpu-dev',
      name: 'gpu-dev-gggg0004',
      labels: { 'reservation-id': 'gggg0004-warn' },
    });
    expect((await h.schedule(warn)).summary.warned).toBe(1);
    // Once warned, it no longer takes a place in the due query (it would crowd out others).
    expect(await reservationsDueForWarning(h.deps.pool, h.clock.now(), [30, 15, 5], 10)).toEqual([]);
    expect((await h.schedule(warn)).summary.warned).toBe(0);
    h.clock.advanceMinutes(1);
    expect((await h.schedule(warn)).summary.warned).toBe(0);
  });
});

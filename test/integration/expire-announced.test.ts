/*
 * expire's batch end writes each applied end's event in the same statement as the transition. The
 * compare-and-set therefore holds the row to what the event announces (its pod, namespace and
 * deadline as read): a row changed in between is a conflict, leaving no event that describes a
 * pod the reservation no longer has.
 */
import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { outboxRecords } from '../../shared/db/queries/outbox.js';
import { endReservationsLogged } from '../../shared/db/queries/reservations.js';
import type { Announced, EndDecision, EndRequest } from '../../shared/db/queries/reservations.js';
import { useTestDatabase } from '../support/database.js';
import { insertReservation } from '../support/fixtures.js';

const db = useTestDatabase();
const now = new Date('2026-06-01T12:00:00.000Z');
const deadline = new Date('2026-06-01T11:00:00.123Z');
// A run of its own per test: the decision log is append-only.
let log: { runId: string; fn: string; decidedAt: Date };
let lease: { owner: string; until: Date };

const read: Announced = { podName: 'gpu-dev-r1', namespace: 'gpu-dev', expiresAt: deadline };

function expireRequest(reservationId: string, announced: Announced): EndRequest & EndDecision {
  return {
    reservationId,
    from: 'active',
    to: 'expired',
    reason: 'deadline',
    expectedExpiresAt: deadline,
    recordReason: false,
    now,
    announced,
    action: 'expire',
  };
}

function eventFor(reservationId: string) {
  return {
    eventId: randomUUID(),
    destination: 'sink',
    type: 'dev.devenv.lifecycle.reservation.expired',
    source: '/devenv-lifecycle/expire',
    subject: reservationId,
    data: { reservationId, podName: read.podName },
  };
}

async function endWithEvents(requests: (EndRequest & EndDecision)[]) {
  const events = requests.map((request) => eventFor(request.reservationId));
  return endReservationsLogged(db.pool, requests, log, outboxRecords(events, now, lease));
}

async function outbox() {
  const { rows } = await db.pool.query('select subject, lease_owner, attempts from event_outbox order by subject');
  return rows;
}

async function outcomes() {
  const { rows } = await db.pool.query(
    'select entity_id, outcome from decision_log where run_id = $1 order by entity_id',
    [log.runId],
  );
  return rows;
}

beforeEach(async () => {
  log = { runId: randomUUID(), fn: 'expire', decidedAt: now };
  lease = { owner: log.runId, until: new Date(now.getTime() + 60_000) };
  await db.pool.query('delete from event_outbox; delete from reservations');
  for (const id of ['r-1', 'r-2'])
    await insertReservation(db.pool, {
      reservation_id: id,
      pod_name: 'gpu-dev-r1',
      namespace: 'gpu-dev',
      expires_at: deadline,
    });
});

describe('expire: the end and its event in one statement', () => {
  it('writes the event of each end that applied, born leased to the run, and answers the ids that ended', async () => {
    expect(await endWithEvents([expireRequest('r-1', read), expireRequest('r-2', read)])).toEqual(['r-1', 'r-2']);
    expect(await outbox()).toEqual([
      { subject: 'r-1', lease_owner: log.runId, attempts: 1 },
      { subject: 'r-2', lease_owner: log.runId, attempts: 1 },
    ]);
  });

  it.each([
    ['its pod was renamed', { ...read, podName: 'gpu-dev-r1-old' }],
    ['its pod moved to another namespace', { ...read, namespace: 'elsewhere' }],
    ['its pod name was read as missing', { ...read, podName: null }],
    ['its deadline was read otherwise', { ...read, expiresAt: new Date(deadline.getTime() + 1) }],
  ])('is a conflict, with no event, when the row no longer says what was read: %s', async (_label, announced) => {
    expect(await endWithEvents([expireRequest('r-1', announced), expireRequest('r-2', read)])).toEqual(['r-2']);
    const { rows } = await db.pool.query(`select status from reservations where reservation_id = 'r-1'`);
    expect(rows).toEqual([{ status: 'active' }]);
    expect(await outbox()).toEqual([{ subject: 'r-2', lease_owner: log.runId, attempts: 1 }]);
    expect(await outcomes()).toEqual([
      { entity_id: 'r-1', outcome: 'conflict' },
      { entity_id: 'r-2', outcome: 'applied' },
    ]);
  });

  it('writes no event at all without outbox records (a dry run stages nothing)', async () => {
    expect(await endReservationsLogged(db.pool, [expireRequest('r-1', read)], log)).toEqual(['r-1']);
    expect(await outbox()).toEqual([]);
  });
});

import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { withTransaction } from '../../shared/db/transaction.js';
import {
  enqueueEvents,
  leaseDueEvents,
  markDelivered,
  markFailed,
  outboxBacklog,
  redeliveryDelaySeconds,
} from '../../shared/db/queries/outbox.js';
import { recordProcessedEvent } from '../../shared/db/queries/inbox.js';
import { useTestDatabase } from '../support/database.js';

const db = useTestDatabase();
const now = new Date('2026-06-01T12:00:00Z');
const later = (seconds: number) => new Date(now.getTime() + seconds * 1000);
const event = (destination = 'cleanup-pod') => ({
  eventId: randomUUID(),
  destination,
  type: 'dev.devenv.lifecycle.reservation.expired',
  source: '/devenv-lifecycle/expire',
  subject: 'r-1',
  data: { reservationId: 'r-1' },
});

async function clearOutbox() {
  await db.pool.query('delete from event_outbox');
}

describe('outbox', () => {
  it('ignores a repeated (event, destination) and keeps one row per destination', async () => {
    await clearOutbox();
    const first = event();
    expect(await enqueueEvents(db.pool, [first, { ...first, destination: 'sink' }], now)).toBe(2);
    expect(await enqueueEvents(db.pool, [first], now)).toBe(0);
    expect((await outboxBacklog(db.pool)).undelivered).toBe(2);
  });

  it('never leases the same row to two concurrent runners', async () => {
    await clearOutbox();
    await enqueueEvents(
      db.pool,
      Array.from({ length: 40 }, () => event()),
      now,
    );
    const runners = ['a', 'b', 'c', 'd'].map((owner) =>
      withTransaction(db.pool, async (client) => {
        const leased = [];
        for (let batch = 0; batch < 10; batch++)
          leased.push(...(await leaseDueEvents(client, { owner, now, limit: 3, leaseSeconds: 30 })));
        return leased.map((row) => row.id);
      }),
    );
    const ids = (await Promise.all(runners)).flat();
    expect(ids).toHaveLength(40);
    expect(new Set(ids).size).toBe(40);
  });

  it('lets only the lease owner mark delivery, and re-leases after the lease expires', async () => {
    await clearOutbox();
    await enqueueEvents(db.pool, [event()], now);
    const [row] = await leaseDueEvents(db.pool, { owner: 'a', now, limit: 10, leaseSeconds: 30 });
    expect(await leaseDueEvents(db.pool, { owner: 'b', now: later(10), limit: 10, leaseSeconds: 30 })).toHaveLength(0);
    expect(await markDelivered(db.pool, [row!.id], 'b', later(10))).toBe(0);
    const [again] = await leaseDueEvents(db.pool, { owner: 'b', now: later(31), limit: 10, leaseSeconds: 30 });
    expect(again!.id).toBe(row!.id);
    expect(again!.attempts).toBe(2);
    expect(await markDelivered(db.pool, [row!.id], 'a', later(32))).toBe(0); // a lost its lease
    expect(await markDelivered(db.pool, [row!.id], 'b', later(32))).toBe(1);
    expect((await outboxBacklog(db.pool)).undelivered).toBe(0);
  });

  it('holds a failed delivery back until its backoff has passed', async () => {
    await clearOutbox();
    await enqueueEvents(db.pool, [event()], now);
    const [row] = await leaseDueEvents(db.pool, { owner: 'a', now, limit: 10, leaseSeconds: 30 });
    await markFailed(db.pool, row!.id, 'a', 'HTTP 503', later(redeliveryDelaySeconds(row!.attempts)));
    expect(await leaseDueEvents(db.pool, { owner: 'a', now: later(4), limit: 10, leaseSeconds: 30 })).toHaveLength(0);
    expect(await leaseDueEvents(db.pool, { owner: 'a', now: later(5), limit: 10, leaseSeconds: 30 })).toHaveLength(1);
    const { rows } = await db.pool.query('select last_error from event_outbox where id = $1', [row!.id]);
    expect(rows[0].last_error).toBe('HTTP 503');
  });

  it('leases only the requested events when asked', async () => {
    await clearOutbox();
    const mine = event();
    await enqueueEvents(db.pool, [mine, event()], now);
    const leased = await leaseDueEvents(db.pool, {
      owner: 'a',
      now,
      limit: 10,
      leaseSeconds: 30,
      eventIds: [mine.eventId],
    });
    expect(leased.map((row) => row.event_id)).toEqual([mine.eventId]);
  });

  it('backs off exponentially, capped at an hour', () => {
    expect([1, 2, 3, 4].map(redeliveryDelaySeconds)).toEqual([5, 10, 20, 40]);
    expect(redeliveryDelaySeconds(50)).toBe(3600);
  });
});

describe('inbox', () => {
  it('accepts an event once per consumer and reports duplicates', async () => {
    const entry = { consumer: 'cleanup-pod', source: '/devenv-lifecycle/expire', eventId: randomUUID(), type: 't' };
    expect(await recordProcessedEvent(db.pool, entry, now)).toBe(true);
    expect(await recordProcessedEvent(db.pool, entry, now)).toBe(false);
    expect(await recordProcessedEvent(db.pool, { ...entry, consumer: 'oom-scan' }, now)).toBe(true);
    expect(await recordProcessedEvent(db.pool, { ...entry, source: '/other' }, now)).toBe(true);
  });
});

/*
 * expire's rules live in decide (pastGrace, absentSince). Two SQL texts keep a copy for a reason:
 * the overdue read keeps the grace predicate for its partial index, and recordObservations keeps
 * the absence rule in its upsert so concurrent runs cannot lose a first-absence time. These tables
 * run the same cases through the SQL and through decide: the SQL selects a superset of what decide
 * ends, decide ends exactly what the rule says, and the stored absence time is decide's.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { absentSince, decide } from '../../functions/expire/decide.js';
import type { PodObservation } from '../../functions/expire/decide.js';
import { recordObservations } from '../../shared/db/queries/pod-observations.js';
import { overdueReservations } from '../../shared/db/queries/reservations.js';
import { useTestDatabase } from '../support/database.js';
import { insertReservation } from '../support/fixtures.js';

const db = useTestDatabase();
const NOW = new Date('2026-06-01T12:00:00Z');
const GRACE = 120;
const ms = (offset: number) => new Date(NOW.getTime() + offset);
const policy = {
  gracePeriodSeconds: GRACE,
  launchGraceMinutes: 10,
  podAbsentConfirmSeconds: 60,
  preparingTimeoutMinutes: 60,
  queueTimeoutHours: 48,
  mainContainer: 'main',
};

// [name, status, deadline relative to now in ms (null: none), ended by the grace rule]
const CASES: [string, string, number | null, boolean][] = [
  ['long overdue', 'active', -3_600_000, true],
  ['a millisecond past deadline + grace', 'active', -GRACE * 1000 - 1, true],
  ['exactly at deadline + grace', 'active', -GRACE * 1000, false],
  ['inside the grace', 'active', -1000, false],
  ['in the future', 'active', 60_000, false],
  ['no deadline', 'active', null, false],
  ['overdue but already expired', 'expired', -3_600_000, false],
  ['overdue but cancelled', 'cancelled', -3_600_000, false],
];

beforeEach(async () => {
  await db.pool.query('delete from reservations');
});

describe('expire rules: SQL and decide agree', () => {
  it('the overdue read is a superset of what decide expires, and decide expires exactly the grace rule', async () => {
    const names = new Map<string, string>();
    for (const [index, [name, status, offset]] of CASES.entries()) {
      const id = `rule-${index}`;
      await insertReservation(db.pool, { reservation_id: id, status, expires_at: offset === null ? null : ms(offset) });
      names.set(id, name);
    }
    const rows = await overdueReservations(db.pool, NOW, GRACE, 100);
    const plan = decide({
      now: NOW,
      active: rows.map((row) => ({
        reservationId: row.reservation_id,
        expiresAt: row.expires_at,
        launchedAt: row.launched_at,
        statusChangedAt: row.status_changed_at,
        podName: row.pod_name,
        namespace: row.namespace,
      })),
      waiting: [],
      pods: new Map(),
      absentSince: new Map(),
      policy,
    });
    const expired = plan.actions
      .filter((action) => action.kind === 'expire')
      .map((action) => names.get(action.entity.id));
    const expected = CASES.filter(([, , , ends]) => ends).map(([name]) => name);
    expect(new Set(expired)).toEqual(new Set(expected));
    for (const name of expected) expect(rows.map((row) => names.get(row.reservation_id))).toContain(name);
  });

  // [previous absence (ms before now, null: none), this run's observation]
  const ABSENCE: [number | null, PodObservation['kind']][] = [
    [null, 'absent'],
    [null, 'present'],
    [null, 'unknown'],
    [90_000, 'absent'],
    [90_000, 'present'],
    [90_000, 'unknown'],
  ];

  it.each(ABSENCE)('stores the absence time decide reads: previous %s, observed %s', async (previous, kind) => {
    const { reservation_id: id } = await insertReservation(db.pool, {});
    const before = previous === null ? undefined : ms(-previous);
    await db.pool.query('update pod_observations set absent_since = $2, checked_at = $2 where reservation_id = $1', [
      id,
      before ?? null,
    ]);
    await recordObservations(
      db.pool,
      [{ reservationId: id, kind, ...(kind === 'unknown' ? { error: 'HTTP 503' } : {}) }],
      NOW,
    );
    const stored = (
      await db.pool.query<{ absent_since: Date | null }>(
        'select absent_since from pod_observations where reservation_id = $1',
        [id],
      )
    ).rows[0]!;
    expect(stored.absent_since ?? undefined).toEqual(absentSince(before, kind, NOW));
  });
});

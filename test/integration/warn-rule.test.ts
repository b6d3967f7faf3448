/*
 * warn's level rule lives in decide. Two SQL reads keep a predicate for their index: the due read
 * (deadline within the largest level, crossed level neither sent nor claimed) and the abandoned
 * claims read (claimed longer ago than the lease). One table runs the same cases through the SQL
 * and through decide: decide over every active row warns exactly what the rule says, the SQL
 * gathers a superset of that, and decide over what the SQL gathered warns the same.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { decideWarn } from '../../functions/warn/decide.js';
import type { WarnAction, WarnLoad } from '../../functions/warn/decide.js';
import { reservationsDueForWarning } from '../../shared/db/queries/reservations.js';
import { abandonedClaims, ledgerFor } from '../../shared/db/queries/warnings.js';
import { useTestDatabase } from '../support/database.js';
import { insertReservation } from '../support/fixtures.js';

const db = useTestDatabase();
const NOW = new Date('2026-06-01T12:00:00Z');
const LEVELS = [30, 15, 5];
const LEASE = 80;
const at = (seconds: number) => new Date(NOW.getTime() + seconds * 1000);

type Ledger = [
  level: number,
  state: 'sent' | 'sending' | 'failed',
  claimedSecondsAgo?: number,
  forOldDeadline?: boolean,
][];
// [name, status, seconds left, ledger of the deadline, level warned (null: none), redelivery]
const CASES: [string, string, number, Ledger, number | null, boolean][] = [
  ['outside every level', 'active', 31 * 60, [], null, false],
  ['exactly at the 30-minute level', 'active', 30 * 60, [], 30, false],
  ['inside 30, nothing sent', 'active', 20 * 60, [], 30, false],
  ['inside 30, 30 sent', 'active', 20 * 60, [[30, 'sent']], null, false],
  ['inside 15, 30 sent', 'active', 14 * 60, [[30, 'sent']], 15, false],
  ['inside 15, 15 claimed by a live run', 'active', 14 * 60, [[15, 'sending', 10]], null, false],
  ['inside 15, 15 claimed exactly a lease ago', 'active', 14 * 60, [[15, 'sending', LEASE]], null, false],
  ['inside 15, 15 claim abandoned', 'active', 14 * 60, [[15, 'sending', LEASE + 1]], 15, true],
  ['inside 15, 15 failed', 'active', 14 * 60, [[15, 'failed']], 15, false],
  ['inside 5, 15 sent', 'active', 4 * 60, [[15, 'sent']], 5, false],
  ['inside 5, 15 claim abandoned', 'active', 4 * 60, [[15, 'sending', LEASE + 1]], 5, false],
  ['inside 5, 5 sent', 'active', 4 * 60, [[5, 'sent']], null, false],
  ['inside 30, 5 sent (never less urgent)', 'active', 20 * 60, [[5, 'sent']], null, false],
  [
    'inside 15, 15 sent for an earlier deadline (re-armed)',
    'active',
    14 * 60,
    [[15, 'sent', undefined, true]],
    15,
    false,
  ],
  ['a second before the deadline', 'active', 1, [], 5, false],
  ['at the deadline', 'active', 0, [], null, false],
  ['past the deadline', 'active', -1, [], null, false],
  ['inside 15 but expired', 'expired', 14 * 60, [], null, false],
  ['inside 15 but cancelled, abandoned claim', 'cancelled', 14 * 60, [[15, 'sending', LEASE + 1]], null, false],
];

beforeEach(async () => {
  await db.pool.query('delete from reservations');
});

async function seed(): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  for (const [index, [name, status, secondsLeft, ledger]] of CASES.entries()) {
    const id = `rule-${String(index).padStart(2, '0')}`;
    names.set(id, name);
    await insertReservation(db.pool, { reservation_id: id, status, expires_at: at(secondsLeft) });
    for (const [level, state, claimedAgo, old] of ledger) {
      await db.pool.query(
        `insert into warning_ledger (reservation_id, expires_at, level_minutes, state, minutes_left, first_attempt_at, claimed_at, sent_at)
         values ($1, $2, $3, $4::text, 0, $5, $6, case when $4::text = 'sent' then $5::timestamptz end)`,
        [
          id,
          old ? at(secondsLeft + 3600) : at(secondsLeft),
          level,
          state,
          at(-3600),
          claimedAgo === undefined ? null : at(-claimedAgo),
        ],
      );
    }
  }
  return names;
}

async function warned(
  reservations: { reservation_id: string; expires_at: Date | null; pod_name: string | null }[],
): Promise<Map<string, WarnAction>> {
  const rows = reservations.map((row) => ({
    reservationId: row.reservation_id,
    expiresAt: row.expires_at!,
    podName: row.pod_name,
    namespace: 'gpu-dev',
  }));
  const ledger = await ledgerFor(db.pool, rows);
  const loaded: WarnLoad = {
    reservations: rows,
    ledger: ledger.map((row) => ({
      reservationId: row.reservation_id,
      levelMinutes: row.level_minutes,
      state: row.state,
      claimedAt: row.claimed_at,
    })),
    webhooks: [],
    pods: new Map(rows.map((row) => [row.reservationId, { kind: 'present' as const }])),
    levelsMinutes: LEVELS,
    claimLeaseSeconds: LEASE,
  };
  const actions = decideWarn(loaded, { now: NOW, options: {}, maxItems: 1000 }).actions.filter(
    (action): action is WarnAction => action.kind === 'warn',
  );
  return new Map(actions.map((action) => [action.reservationId, action]));
}

describe('warn rule: SQL and decide agree', () => {
  it('decide warns exactly the rule, and the SQL reads gather a superset of it', async () => {
    const names = await seed();
    const expected = new Map(
      CASES.flatMap(([name, , , , level, redelivery]) =>
        level === null ? [] : [[name, { level, redelivery }] as const],
      ),
    );
    const asRule = (actions: Map<string, WarnAction>) =>
      new Map(
        [...actions.values()].map((a) => [
          names.get(a.reservationId)!,
          { level: a.levelMinutes, redelivery: a.redelivery },
        ]),
      );

    // The status is the reservation's lifecycle, not the level rule: decide sees active rows only.
    const active = await db.pool.query(
      `select reservation_id, expires_at, pod_name from reservations where status = 'active'`,
    );
    expect(asRule(await warned(active.rows))).toEqual(expected);

    const due = await reservationsDueForWarning(db.pool, NOW, LEVELS, 100);
    const abandoned = await abandonedClaims(db.pool, NOW, LEASE, 100);
    const gathered = [...new Map([...due, ...abandoned].map((row) => [row.reservation_id, row])).values()];
    const gatheredNames = new Set(gathered.map((row) => names.get(row.reservation_id)));
    for (const name of expected.keys()) expect(gatheredNames, name).toContain(name);

    expect(asRule(await warned(gathered))).toEqual(expected);
  });
});

import { describe, expect, it } from 'vitest';
import { ledgerFor, recordWarnings } from '../../shared/db/queries/warnings.js';
import type { WarningOutcome } from '../../shared/db/queries/warnings.js';
import { useTestDatabase } from '../support/database.js';
import { insertReservation } from '../support/fixtures.js';

const db = useTestDatabase();
const now = new Date('2026-06-01T12:00:00Z');
const deadline = new Date('2026-06-01T12:20:00Z');
const extended = new Date('2026-06-01T14:20:00Z');
/** One attempt on its own: true when it was written. */
const recordWarning = async (outcome: WarningOutcome, at: Date) =>
  (await recordWarnings(db.pool, [outcome], at)).length === 1;
/** The levels recorded as sent for one deadline, as warn's load reads the ledger (ledgerFor). */
const sentLevels = async (reservationId: string, expiresAt: Date) =>
  (await ledgerFor(db.pool, [{ reservationId, expiresAt }]))
    .filter((row) => row.state === 'sent')
    .map((row) => row.level_minutes);

describe('warning ledger', () => {
  it('counts a level as sent only after a successful delivery, and never un-sends it', async () => {
    const row = await insertReservation(db.pool, { expires_at: deadline });
    const id = row.reservation_id;
    const attempt = (delivered: boolean) =>
      recordWarning(
        {
          reservationId: id,
          expiresAt: deadline,
          levelMinutes: 30,
          minutesLeft: 20,
          delivered,
          error: delivered ? undefined : 'exec timed out',
          webhook: true,
        },
        now,
      );
    expect(await attempt(false)).toBe(true);
    expect(await sentLevels(id, deadline)).toEqual([]);
    expect(await attempt(true)).toBe(true);
    expect(await sentLevels(id, deadline)).toEqual([30]);
    expect(await attempt(false)).toBe(false);
    expect(await attempt(true)).toBe(false);
    const { rows } = await db.pool.query(
      'select state, attempts, webhook_state, last_error from warning_ledger where reservation_id = $1',
      [id],
    );
    expect(rows).toEqual([{ state: 'sent', attempts: 2, webhook_state: 'pending', last_error: null }]);
  });

  it('keys the ledger on the deadline, so an extension re-arms every level', async () => {
    const row = await insertReservation(db.pool, { expires_at: deadline });
    const id = row.reservation_id;
    await recordWarning(
      { reservationId: id, expiresAt: deadline, levelMinutes: 30, minutesLeft: 20, delivered: true, webhook: false },
      now,
    );
    expect(await sentLevels(id, deadline)).toEqual([30]);
    expect(await sentLevels(id, extended)).toEqual([]);
  });
});

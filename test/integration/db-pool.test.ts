import { describe, expect, it } from 'vitest';
import { createPool } from '../../shared/db/pool.js';
import { withTransaction } from '../../shared/db/transaction.js';
import { useTestDatabase } from '../support/database.js';
import { insertReservation } from '../support/fixtures.js';

const db = useTestDatabase();

describe('pool', () => {
  it('sets statement and lock timeouts on every connection', async () => {
    const pool = createPool({ connectionString: db.url, poolMax: 2, statementTimeoutMs: 1500, lockTimeoutMs: 250 });
    try {
      const { rows } = await pool.query<{ s: string; l: string }>(
        `select current_setting('statement_timeout') s, current_setting('lock_timeout') l`,
      );
      expect(rows[0]).toEqual({ s: '1500ms', l: '250ms' });
    } finally {
      await pool.end();
    }
  });

  it('fails fast with a lock timeout instead of waiting forever on a held row lock (B-1)', async () => {
    const pool = createPool({ connectionString: db.url, poolMax: 3, statementTimeoutMs: 5000, lockTimeoutMs: 200 });
    const row = await insertReservation(pool);
    const holder = await pool.connect();
    try {
      await holder.query('begin');
      await holder.query('select 1 from reservations where reservation_id = $1 for update', [row.reservation_id]);
      const started = process.hrtime.bigint();
      await expect(
        pool.query(`update reservations set failure_reason = 'x' where reservation_id = $1`, [row.reservation_id]),
      ).rejects.toMatchObject({
        code: '55P03',
      });
      expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(4000);
    } finally {
      await holder.query('rollback');
      holder.release();
      await pool.end();
    }
  });
});

describe('withTransaction', () => {
  it('commits on success', async () => {
    const row = await withTransaction(db.pool, (client) => insertReservation(client));
    const { rowCount } = await db.pool.query('select 1 from reservations where reservation_id = $1', [
      row.reservation_id,
    ]);
    expect(rowCount).toBe(1);
  });

  it('rolls everything back when the work throws', async () => {
    let id = '';
    await expect(
      withTransaction(db.pool, async (client) => {
        id = (await insertReservation(client)).reservation_id;
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const { rowCount } = await db.pool.query('select 1 from reservations where reservation_id = $1', [id]);
    expect(rowCount).toBe(0);
  });
});

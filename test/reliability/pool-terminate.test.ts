/*
 * A PostgreSQL session ended (pg_terminate_backend, a failover) while its client is checked out
 * and idle, as the single-flight lock's connection is for a whole run: the process keeps going,
 * the holder's next query fails, and the pool serves fresh connections.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { createPool } from '../../shared/db/pool.js';
import { useTestDatabase } from '../support/database.js';
import { terminateFunctionSessions } from './fault-plan.js';

const db = useTestDatabase();
let pool: ReturnType<typeof createPool> | undefined;
afterAll(() => pool?.end());

describe('a terminated session', () => {
  it('does not crash a process that holds the client, and the pool recovers', async () => {
    pool = createPool({ connectionString: db.url, poolMax: 2, statementTimeoutMs: 5_000, lockTimeoutMs: 2_000 });
    const held = await pool.connect();
    await held.query('select 1');
    expect(await terminateFunctionSessions(db.pool, db.name)).toBe(1);
    // The 'error' event arrives asynchronously; without a listener it would be an uncaught exception.
    for (
      let attempt = 0;
      attempt < 50 &&
      (await held.query('select 1').then(
        () => true,
        () => false,
      ));
      attempt++
    )
      await sleep(10);
    await expect(held.query('select 1')).rejects.toThrow();
    held.release(true);
    expect((await pool.query<{ one: number }>('select 1 as one')).rows).toEqual([{ one: 1 }]);
  });
});

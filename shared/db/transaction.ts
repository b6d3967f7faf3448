import type pg from 'pg';

/**
 * Run `work` in one transaction on one pooled connection: commit on success, roll back on any
 * error. Nothing in `work` may wait on the network beyond the database (SPEC 5.3: no lock is held
 * across a network call).
 */
export async function withTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('begin');
    const result = await work(client);
    await client.query('commit');
    return result;
  } catch (err) {
    broken = await rollbackQuietly(client);
    throw err;
  } finally {
    // A connection whose rollback failed is in an unknown state: discard it rather than reuse it.
    client.release(broken);
  }
}

async function rollbackQuietly(client: pg.PoolClient): Promise<boolean> {
  try {
    await client.query('rollback');
    return false;
  } catch {
    return true;
  }
}

import { expect, it } from 'vitest';
import { useTestDatabase } from '../support/database.js';

const db = useTestDatabase();

it('gives each file a migrated database', async () => {
  const { rows } = await db.pool.query<{ count: string }>('select count(*) from schema_migrations');
  expect(Number(rows[0]!.count)).toBeGreaterThanOrEqual(2);
});

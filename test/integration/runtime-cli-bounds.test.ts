/*
 * The command line refuses out-of-range numbers the way the HTTP entry does: exit 2, one line
 * naming the field, and no run recorded (nothing changed). One case: each spawn costs seconds, and
 * the schemas' bounds are covered in test/unit/runtime-option-bounds.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';

const db = useTestDatabase();
const cli = (...args: string[]) =>
  runCli(args, { env: { DATABASE_URL: db.url, KUBE_API_SERVER: 'http://127.0.0.1:1' } });

describe('numeric bounds on the command line', () => {
  it.each([[['ending-watchdog', '--older-than-minutes', '1e10'], 'olderThanMinutes']])(
    '%j exits 2 with one line naming %s, and runs nothing',
    async (args, field) => {
      const result = await cli(...args);
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain(field);
      const { rows } = await db.pool.query('select 1 from function_runs');
      expect(rows).toEqual([]);
    },
    90_000,
  );
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OriginDatabase } from '../fixtures/origin-schema/load.js';
import { createOriginDatabase } from '../fixtures/origin-schema/load.js';
import { runCli, runNode } from '../support/cli.js';

const npmMigrate = (url: string, ...flags: string[]) =>
  runNode(['--import', 'tsx', 'local/migrate.ts', ...flags], { env: { DATABASE_URL: url } });
const cliMigrate = (url: string, ...flags: string[]) => runCli(['migrate', ...flags], { env: { DATABASE_URL: url } });

describe('migrate commands on an origin database', () => {
  let origin: OriginDatabase;
  beforeAll(async () => {
    origin = await createOriginDatabase();
    await origin.pool.query(`update reservations set status = 'terminated' where status = 'queued'`);
  });
  afterAll(() => origin.drop());

  it('npm run migrate refuses in one line that names the flag', async () => {
    const result = await npmMigrate(origin.url);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^error: the database already has origin tables .*npm run migrate -- --adopt-existing/),
    ]);
  }, 60_000);

  it('an adoption refusal lists every problem, then one error line, and exits 1', async () => {
    const result = await cliMigrate(origin.url, '--adopt-existing');
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      'cannot adopt the existing origin tables; nothing was changed:',
      expect.stringMatching(
        /^ {2}- reservations: 1 rows violate reservations_status_known .*, e\.g\. 4fb29608-51de-4099-9e95-ad506b4ace05$/,
      ),
      expect.stringMatching(/^error: adoption refused: 1 problem\(s\), listed above/),
    ]);
  }, 60_000);

  it('--dry-run without --adopt-existing is bad input (exit 2)', async () => {
    const result = await cliMigrate(origin.url, '--dry-run');
    expect(result).toEqual({ code: 2, stdout: '', stderr: 'error: --dry-run only applies with --adopt-existing\n' });
  }, 60_000);

  it('adopts once the rows are fixed, then reports nothing to do', async () => {
    await origin.pool.query(`update reservations set status = 'queued' where status = 'terminated'`);
    const dryRun = await cliMigrate(origin.url, '--adopt-existing', '--dry-run');
    expect(dryRun.stdout).toMatch(
      /^dry run: adopting would make \d+ changes \(nothing was changed\):\n {2}added labs\.namespace/,
    );
    const adopted = await npmMigrate(origin.url, '--adopt-existing');
    expect(adopted.code).toBe(0);
    expect(adopted.stdout).toMatch(/^adopted the existing origin tables \(\d+ changes\):\n {2}added labs\.namespace/);
    expect(adopted.stdout).toMatch(/migrations applied: 0002_lifecycle_tables\.sql, /);
    const again = await cliMigrate(origin.url, '--adopt-existing');
    expect(again).toEqual({ code: 0, stdout: 'migrations applied: nothing (schema is up to date)\n', stderr: '' });
  }, 60_000);
});

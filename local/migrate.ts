/*
 * `npm run migrate [-- --adopt-existing [--assume-time-zone ZONE] [--dry-run]]`: apply pending
 * migrations to the configured database (DATABASE_URL or the POSTGRES_* variables), adopting the
 * origin systems' tables when asked. Safe to run from several places at once.
 */
import { loadConfig, processEnvironment } from '../shared/config.js';
import { createPool } from '../shared/db/pool.js';
import { runCli } from './cli-errors.js';
import { parseMigrateArgs, runMigrate } from './migrate-command.js';

runCli(async () => {
  const options = parseMigrateArgs(process.argv.slice(2));
  const config = loadConfig(processEnvironment());
  const pool = createPool({ ...config.database, poolMax: 1, applicationName: 'devenv-lifecycle-migrate' });
  try {
    await runMigrate(pool, options, process.stdout, process.stderr);
  } finally {
    await pool.end();
  }
});

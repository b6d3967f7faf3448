/*
 * `npm run migrate`: apply pending migrations to the configured database (DATABASE_URL or the
 * POSTGRES_* variables). Safe to run from several places at once.
 */
import { loadConfig, processEnvironment } from '../shared/config.js';
import { migrate } from '../shared/db/migrate.js';
import { createPool } from '../shared/db/pool.js';
import { runCli } from './cli-errors.js';

runCli(async () => {
  const config = loadConfig(processEnvironment());
  const pool = createPool({ ...config.database, poolMax: 1, applicationName: 'devenv-lifecycle-migrate' });
  try {
    const report = await migrate(pool);
    const applied = report.applied.length > 0 ? report.applied.join(', ') : 'nothing (schema is up to date)';
    process.stdout.write(`migrations applied: ${applied}\n`);
  } finally {
    await pool.end();
  }
});

/*
 * `npm start`: the local stack. Starts PostgreSQL (embedded unless one is configured) and applies
 * the migrations, then stays up until Ctrl-C.
 */
import { loadConfig, processEnvironment } from '../shared/config.js';
import { migrate } from '../shared/db/migrate.js';
import { createPool } from '../shared/db/pool.js';
import { runCli } from './cli-errors.js';
import { localDatabase } from './database.js';

runCli(async () => {
  const env = processEnvironment();
  const database = await localDatabase(env);
  const config = loadConfig({ ...env, ...(database.url ? { DATABASE_URL: database.url } : {}) });
  const pool = createPool({ ...config.database, applicationName: 'devenv-lifecycle-local' });
  const report = await migrate(pool);
  say(`database: ${database.description}`);
  say(`migrations: ${report.applied.length > 0 ? `applied ${report.applied.join(', ')}` : 'schema is up to date'}`);
  say('ready. Press Ctrl-C to stop.');
  await untilSignal();
  say('stopping...');
  await pool.end();
  await database.stop();
});

function say(line: string): void {
  process.stdout.write(`[devenv-lifecycle] ${line}\n`);
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

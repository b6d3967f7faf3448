/*
 * The PostgreSQL pool. Statement and lock timeouts travel in each connection's startup packet, so
 * every session has them from its first statement: a stuck lock fails fast instead of wedging a
 * run (origin bug B-1 waited forever).
 */
import pg from 'pg';

export interface DatabaseSettings {
  connectionString?: string;
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  ssl?: 'disable' | 'require' | 'verify-full';
  poolMax: number;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  applicationName?: string;
}

/** The one-method port the query modules use: a pool, a client, or a transaction all fit it. */
export interface Db {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

export function createPool(settings: DatabaseSettings): pg.Pool {
  const pool = new pg.Pool({
    connectionString: settings.connectionString,
    host: settings.host,
    port: settings.port,
    user: settings.user,
    password: settings.password,
    database: settings.database,
    ssl: sslOption(settings.ssl),
    max: settings.poolMax,
    statement_timeout: settings.statementTimeoutMs,
    lock_timeout: settings.lockTimeoutMs,
    idle_in_transaction_session_timeout: settings.statementTimeoutMs * 2,
    application_name: settings.applicationName ?? 'devenv-lifecycle',
    connectionTimeoutMillis: 10_000,
  });
  // An idle client that loses its server (restart, pg_terminate_backend) emits 'error' on the
  // pool; without a listener that would crash the process. The next checkout reconnects.
  pool.on('error', () => undefined);
  // A checked-out client has no pool listener: a session ended while its holder awaits other work
  // (the single-flight lock's connection, a transaction between statements) would emit an
  // unhandled 'error' and kill the process. Its next query fails instead, and the holder discards it.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

function sslOption(mode: DatabaseSettings['ssl']): pg.PoolConfig['ssl'] {
  if (mode === 'require') return { rejectUnauthorized: false };
  if (mode === 'verify-full') return { rejectUnauthorized: true };
  return undefined;
}

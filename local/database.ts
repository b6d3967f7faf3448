/*
 * The local stack's database: the configured one when DATABASE_URL or POSTGRES_PASSWORD is set,
 * otherwise an embedded PostgreSQL whose data stays under .data/postgres between runs.
 */
import { join } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from './embedded-postgres.js';

export interface LocalDatabase {
  url?: string;
  description: string;
  stop(): Promise<void>;
}

export const DATA_DIR = '.data';

export async function localDatabase(env: Record<string, string | undefined>): Promise<LocalDatabase> {
  if (env.DATABASE_URL || env.POSTGRES_PASSWORD) {
    const where = env.DATABASE_URL
      ? redactUrl(env.DATABASE_URL)
      : `${env.POSTGRES_HOST ?? '(default host)'} (POSTGRES_*)`;
    return { description: `external PostgreSQL at ${where}`, stop: async () => undefined };
  }
  const dataDir = join(process.cwd(), DATA_DIR, 'postgres');
  const embedded = await startEmbeddedPostgres({ dataDir, persistent: true, port: numberOr(env.LOCAL_POSTGRES_PORT) });
  await ensureDatabase(embedded.url('postgres'), 'devenv_lifecycle');
  return {
    url: embedded.url('devenv_lifecycle'),
    description: `embedded PostgreSQL on 127.0.0.1:${embedded.port} (data in ${DATA_DIR}/postgres)`,
    stop: () => embedded.stop(),
  };
}

async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (rowCount === 0) await client.query(`create database ${name}`);
  } finally {
    await client.end();
  }
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '****';
    return parsed.toString();
  } catch {
    return '(DATABASE_URL)';
  }
}

function numberOr(value: string | undefined): number | undefined {
  return value ? Number(value) : undefined;
}

/*
 * One PostgreSQL server per test run: the one in DATABASE_URL when set, otherwise an embedded
 * server on tmpfs. Migrations are applied once into a template database; each test file clones it
 * (CREATE DATABASE ... TEMPLATE), which takes milliseconds.
 */
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../shared/db/migrate.js';
import { startEmbeddedPostgres } from '../../local/embedded-postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pg: { adminUrl: string; template: string };
  }
}

const TEMPLATE = `devenv_test_template_${process.pid}`;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.DATABASE_URL;
  const embedded = external
    ? undefined
    : await startEmbeddedPostgres({ dataDir: tmpDataDir(), persistent: false, fast: true });
  const adminUrl = external ?? embedded!.url('postgres');
  await createTemplate(adminUrl);
  project.provide('pg', { adminUrl, template: TEMPLATE });
  return async () => {
    await adminQuery(adminUrl, `drop database if exists ${TEMPLATE} with (force)`);
    await embedded?.stop();
  };
}

function tmpDataDir(): string {
  const base = process.platform === 'linux' ? '/dev/shm' : '/tmp';
  return `${base}/devenv-lifecycle-test-pg-${process.pid}`;
}

async function createTemplate(adminUrl: string): Promise<void> {
  await adminQuery(adminUrl, `drop database if exists ${TEMPLATE} with (force)`);
  await adminQuery(adminUrl, `create database ${TEMPLATE}`);
  const pool = new pg.Pool({ connectionString: withDatabase(adminUrl, TEMPLATE), max: 2 });
  try {
    await migrate(pool);
  } finally {
    // A template must have no sessions when it is cloned.
    await pool.end();
  }
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/*
 * Each test file gets its own copy of the migrated template database. Call useTestDatabase() once
 * at the top of a file; the pool is ready inside tests and hooks.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';
import { createPool } from '../../shared/db/pool.js';
import { adminQuery, withDatabase } from './pg-global-setup.js';

export interface TestDatabase {
  pool: pg.Pool;
  url: string;
  name: string;
}

export interface TestDatabaseOptions {
  poolMax?: number;
  /** Defaults that bound a hung test; a test under deliberate load raises them (see load.test.ts). */
  statementTimeoutMs?: number;
  lockTimeoutMs?: number;
  /** Every session of the database runs in this time zone from its first statement (default the server's, UTC). */
  timeZone?: string;
}

export function useTestDatabase(options: TestDatabaseOptions = {}): TestDatabase {
  const { adminUrl, template } = inject('pg');
  const name = `t_${randomBytes(6).toString('hex')}`;
  const ctx = { name, url: withDatabase(adminUrl, name) } as TestDatabase;
  beforeAll(async () => {
    await adminQuery(adminUrl, `create database ${name} template ${template} strategy file_copy`);
    if (options.timeZone) await adminQuery(adminUrl, `alter database ${name} set timezone to '${options.timeZone}'`);
    ctx.pool = createPool({
      connectionString: ctx.url,
      poolMax: options.poolMax ?? 10,
      statementTimeoutMs: options.statementTimeoutMs ?? 10_000,
      lockTimeoutMs: options.lockTimeoutMs ?? 3_000,
      applicationName: 'devenv-lifecycle-test',
    });
  });
  afterAll(async () => {
    await ctx.pool?.end();
    await adminQuery(adminUrl, `drop database if exists ${name} with (force)`);
  });
  return ctx;
}

/** A fresh, empty (unmigrated) database, for migrator tests. */
export function useEmptyDatabase(): { url: string; name: string } {
  const { adminUrl } = inject('pg');
  const name = `e_${randomBytes(6).toString('hex')}`;
  beforeAll(() => adminQuery(adminUrl, `create database ${name}`));
  afterAll(() => adminQuery(adminUrl, `drop database if exists ${name} with (force)`));
  return { url: withDatabase(adminUrl, name), name };
}

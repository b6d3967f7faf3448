/*
 * What the policy-preview tests share: the preview of a function against changed settings, the
 * changed settings themselves, and the whole database as rows, which a preview must leave exactly
 * as it found it.
 */
import type { Config } from '../../shared/config.js';
import type { Db } from '../../shared/db/pool.js';
import type { Deps } from '../../shared/deps.js';
import { kernelFunction, previewPolicy } from '../../shared/runtime/rails/preview.js';
import type { Preview } from '../../shared/runtime/rails/preview.js';

/** Every row of every table, as sorted JSON lines per table (also hostile input's proof that nothing changed). */
export async function everyRow(db: Db): Promise<Record<string, string[]>> {
  const { rows: tables } = await db.query<{ name: string }>(
    `select table_name as name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by 1`,
  );
  const dump: Record<string, string[]> = {};
  for (const { name } of tables)
    dump[name] = (await db.query(`select * from "${name}"`)).rows.map((row) => JSON.stringify(row)).sort();
  return dump;
}

/** The current configuration with some policy settings changed. */
export function withPolicy(config: Config, policy: Partial<Config['policy']>): Config {
  return { ...config, policy: { ...config.policy, ...policy } };
}

/**
 * A preview of `fn` (a function on the run kernel) against changed settings; `deps` is read when
 * the preview runs, as a test file's harness is only there once its hooks have run.
 */
export function previewOf(fn: object, deps: () => Deps): (changed: Config) => Promise<Preview> {
  return (changed) => previewPolicy(kernelFunction(fn as never), deps(), changed);
}

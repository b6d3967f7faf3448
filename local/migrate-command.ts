/*
 * The migrate command shared by `npm run migrate` and `devenv-lifecycle migrate`:
 *   [--adopt-existing [--assume-time-zone ZONE]]
 * An adoption refusal prints every problem (constraint, row count, a few ids) before the one-line
 * error, since the operator has to fix them all before trying again.
 */
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { AdoptionRefused } from '../shared/db/adopt.js';
import type { MigrateOptions } from '../shared/db/migrate.js';
import { migrate } from '../shared/db/migrate.js';
import { Fatal, Invalid } from '../shared/errors.js';

export const MIGRATE_USAGE = 'migrate [--adopt-existing [--assume-time-zone ZONE]]';

export function parseMigrateArgs(args: string[]): MigrateOptions {
  let values: { 'adopt-existing'?: boolean; 'assume-time-zone'?: string };
  try {
    ({ values } = parseArgs({ args, strict: true, options: { 'adopt-existing': { type: 'boolean' }, 'assume-time-zone': { type: 'string' } } }));
  } catch (err) {
    throw new Invalid(`${(err as Error).message}; usage: ${MIGRATE_USAGE}`, [{ field: 'arguments', message: (err as Error).message }]);
  }
  const zone = values['assume-time-zone'];
  if (zone !== undefined && values['adopt-existing'] !== true) {
    throw new Invalid('--assume-time-zone only applies with --adopt-existing', [{ field: '--assume-time-zone', message: 'needs --adopt-existing' }]);
  }
  return { adoptExisting: values['adopt-existing'] === true, ...(zone !== undefined && { assumeTimeZone: zone }) };
}

export async function runMigrate(pool: pg.Pool, options: MigrateOptions, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<void> {
  try {
    const report = await migrate(pool, undefined, options);
    if (report.adopted.length > 0) out.write(`adopted the existing origin tables (${report.adopted.length} changes):\n${report.adopted.map((line) => `  ${line}\n`).join('')}`);
    out.write(`migrations applied: ${report.applied.join(', ') || 'nothing (schema is up to date)'}\n`);
  } catch (error) {
    if (!(error instanceof AdoptionRefused)) throw error;
    err.write(`cannot adopt the existing origin tables; nothing was changed:\n${error.problems.map((line) => `  - ${line}\n`).join('')}`);
    throw new Fatal(`adoption refused: ${error.problems.length} problem(s), listed above; fix them (or restore from the backup) and run again`);
  }
}

/*
 * The migrate command shared by `npm run migrate` and `devenv-lifecycle migrate`:
 *   [--adopt-existing [--assume-time-zone ZONE] [--dry-run]]
 * An adoption refusal prints every problem (constraint, row count, a few ids) before the one-line
 * error, since the operator has to fix them all before trying again.
 */
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { AdoptionRefused } from '../shared/db/adopt/index.js';
import type { MigrateOptions } from '../shared/db/migrate.js';
import { migrate } from '../shared/db/migrate.js';
import { Fatal, Invalid } from '../shared/errors.js';

export const MIGRATE_USAGE = 'migrate [--adopt-existing [--assume-time-zone ZONE] [--dry-run]]';

const FLAGS = {
  'adopt-existing': { type: 'boolean' },
  'assume-time-zone': { type: 'string' },
  'dry-run': { type: 'boolean' },
} as const;

export function parseMigrateArgs(args: string[]): MigrateOptions {
  let values: { 'adopt-existing'?: boolean; 'assume-time-zone'?: string; 'dry-run'?: boolean };
  try {
    ({ values } = parseArgs({ args, strict: true, options: FLAGS }));
  } catch (err) {
    throw new Invalid(`${(err as Error).message}; usage: ${MIGRATE_USAGE}`, [
      { field: 'arguments', message: (err as Error).message },
    ]);
  }
  const zone = values['assume-time-zone'];
  const adoptOnly = ['assume-time-zone', 'dry-run'].find((flag) => values[flag as keyof typeof values] !== undefined);
  if (adoptOnly && values['adopt-existing'] !== true) {
    throw new Invalid(`--${adoptOnly} only applies with --adopt-existing`, [
      { field: `--${adoptOnly}`, message: 'needs --adopt-existing' },
    ]);
  }
  return {
    adoptExisting: values['adopt-existing'] === true,
    dryRun: values['dry-run'] === true,
    ...(zone !== undefined && { assumeTimeZone: zone }),
  };
}

export async function runMigrate(
  pool: pg.Pool,
  options: MigrateOptions,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<void> {
  try {
    const report = await migrate(pool, undefined, options);
    const changes = report.adopted.map((line) => `  ${line}\n`).join('');
    if (options.dryRun) {
      out.write(
        report.adopted.length > 0
          ? `dry run: adopting would make ${report.adopted.length} changes (nothing was changed):\n${changes}`
          : 'dry run: nothing to adopt\n',
      );
      return;
    }
    if (report.adopted.length > 0)
      out.write(`adopted the existing origin tables (${report.adopted.length} changes):\n${changes}`);
    out.write(`migrations applied: ${report.applied.join(', ') || 'nothing (schema is up to date)'}\n`);
  } catch (error) {
    if (!(error instanceof AdoptionRefused)) throw error;
    err.write(
      `cannot adopt the existing origin tables; nothing was changed:\n${error.problems.map((line) => `  - ${line}\n`).join('')}`,
    );
    throw new Fatal(
      `adoption refused: ${error.problems.length} problem(s), listed above; fix them (or restore from the backup) and run again`,
    );
  }
}

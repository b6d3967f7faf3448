/*
 * The commands behind local/cli.ts's table. Each reads its configuration from the environment,
 * completed by the running local stack's coordinates when run from its checkout (cli-env.ts).
 */
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { systemClock } from '../shared/clock.js';
import { loadConfig } from '../shared/config.js';
import { createPool } from '../shared/db/pool.js';
import { recentRuns } from '../shared/db/queries/runs.js';
import { Invalid } from '../shared/errors.js';
import { cliEnvironment } from './cli-env.js';
import { invokeInProcess, invokeThroughGateway } from './cli-invoke.js';
import { formatDeadLetters, parseRequeueArgs, requeueDeadEvents } from './cli-outbox.js';
import { formatRuns } from './cli-runs.js';
import { parseMigrateArgs, runMigrate } from './migrate-command.js';

export async function invoke(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    'dry-run': { type: 'boolean', default: false },
    'max-items': { type: 'string' },
    json: { type: 'string' },
    gateway: { type: 'string' },
  });
  const fn = positionals[0];
  if (!fn)
    throw new Invalid('invoke needs a function name (devenv-lifecycle help invoke)', [
      { field: 'fn', message: 'missing' },
    ]);
  const request = {
    fn,
    dryRun: values['dry-run'] === true,
    maxItems: values['max-items'] as string | undefined,
    json: values.json as string | undefined,
  };
  const answer =
    typeof values.gateway === 'string'
      ? await invokeThroughGateway(values.gateway, request)
      : await invokeInProcess(request, cliEnvironment());
  process.stdout.write(`${answer.text}\n`);
  if (!answer.ok) throw new Error(`${fn} answered with an error (see above)`);
}

export async function migrate(args: string[]): Promise<void> {
  const options = parseMigrateArgs(args);
  await withPool((pool) => runMigrate(pool, options, process.stdout, process.stderr));
}

/** The OctoLab watchdog's own command line, run in process (flags as the origin script took them). */
export async function endingWatchdog(args: string[]): Promise<void> {
  const { values } = parse(args, {
    'lab-id': { type: 'string' },
    'older-than-minutes': { type: 'string' },
    'max-labs': { type: 'string' },
    action: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
  });
  const numeric = (flag: string) => (values[flag] === undefined ? undefined : Number(values[flag]));
  const options = {
    ...(values['lab-id'] !== undefined && { labId: values['lab-id'] }),
    ...(values['older-than-minutes'] !== undefined && { olderThanMinutes: numeric('older-than-minutes') }),
    ...(values['max-labs'] !== undefined && { maxLabs: numeric('max-labs') }),
    ...(values.action !== undefined && { action: values.action }),
  };
  const answer = await invokeInProcess(
    { fn: 'ending-watchdog', dryRun: values['dry-run'] === true, json: JSON.stringify(options) },
    cliEnvironment(),
  );
  process.stdout.write(`${answer.text}\n`);
  if (!answer.ok) throw new Error('ending-watchdog finished with failures (see above)');
}

export async function runs(args: string[]): Promise<void> {
  const { values } = parse(args, { fn: { type: 'string' }, limit: { type: 'string', default: '20' } });
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit <= 0)
    throw new Invalid('--limit must be a positive whole number', [
      { field: '--limit', message: 'positive whole number' },
    ]);
  await withPool(async (pool) => {
    const rows = await recentRuns(pool, { fn: values.fn as string | undefined, limit });
    process.stdout.write(formatRuns(rows));
    process.stdout.write(await formatDeadLetters(pool));
  });
}

export async function requeueEvents(args: string[]): Promise<void> {
  const selection = parseRequeueArgs(args);
  await withPool(async (pool) => {
    const requeued = await requeueDeadEvents(pool, selection, systemClock.now());
    process.stdout.write(`requeued ${requeued} dead-lettered event(s)\n`);
  });
}

function parse(args: string[], options: NonNullable<ParseArgsConfig['options']>) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new Invalid((err as Error).message, [{ field: 'arguments', message: (err as Error).message }]);
  }
}

async function withPool(work: (pool: ReturnType<typeof createPool>) => Promise<void>): Promise<void> {
  const config = loadConfig(cliEnvironment());
  const pool = createPool({ ...config.database, poolMax: 2, applicationName: 'devenv-lifecycle-cli' });
  try {
    await work(pool);
  } finally {
    await pool.end();
  }
}

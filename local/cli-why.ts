/*
 * devenv-lifecycle why <reservation-id | lab-id> [--json]: what happened to one environment and
 * why, oldest first, read from the database (read-only). An id that cannot be one is refused
 * (exit 2) and an id nothing is known about says so (exit 1), each in one line.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../shared/config.js';
import { createPool } from '../shared/db/pool.js';
import { knowsNothing, loadTimeline } from '../shared/db/queries/timeline.js';
import { Invalid, NotFound } from '../shared/errors.js';
import { cliEnvironment } from './cli-env.js';
import { buildWhy, checkWhyId, formatWhy } from './why.js';

export async function why(args: string[]): Promise<void> {
  const { json, id } = parseWhyArgs(args);
  const config = loadConfig(cliEnvironment());
  const pool = createPool({ ...config.database, poolMax: 2, applicationName: 'devenv-lifecycle-cli' });
  try {
    const sources = await loadTimeline(pool, id);
    // JSON.stringify: the id is shown exactly, quotes and all, and stays on the one error line.
    if (knowsNothing(sources))
      throw new NotFound(
        `nothing is known about ${JSON.stringify(id)}: no reservation or lab has this id and no decision names it`,
      );
    const answer = buildWhy(sources);
    process.stdout.write(json ? `${JSON.stringify(answer, null, 2)}\n` : formatWhy(answer));
  } finally {
    await pool.end();
  }
}

function parseWhyArgs(args: string[]): { json: boolean; id: string } {
  let parsed;
  try {
    // `--` lets an id that starts with a dash through.
    parsed = parseArgs({
      args,
      options: { json: { type: 'boolean', default: false } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new Invalid((err as Error).message, [{ field: 'arguments', message: (err as Error).message }]);
  }
  if (parsed.positionals.length > 1)
    throw new Invalid(`why takes one id, got ${parsed.positionals.length} (quote an id that has spaces)`, [
      { field: 'id', message: 'one id' },
    ]);
  return { json: parsed.values.json === true, id: checkWhyId(parsed.positionals[0]) };
}

/*
 * `devenv-lifecycle extend <reservation-id> --by 2h`: an operator extends a reservation in this
 * process, through the same decide and execute as a link, with the same policy. No token: the
 * operator's authority is their access to the database. `--bypass-capacity` extends even while
 * reservations for the same GPU type wait (the other limits still hold); it is in the decision log.
 */
import { parseArgs } from 'node:util';
import { act } from '../functions/extend/act.js';
import type { ActDeps, Answer } from '../functions/extend/act.js';
import { loadConfig } from '../shared/config.js';
import { Invalid } from '../shared/errors.js';
import { cliEnvironment } from './cli-env.js';

// The hard ceiling of what may be asked; EXTEND_MAX_MINUTES decides what is allowed.
const MAX_ASKED_MINUTES = 10_080;

export interface ExtendArgs {
  reservationId: string;
  minutes: number;
  bypassCapacity: boolean;
}

export function parseExtendArgs(args: string[]): ExtendArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { by: { type: 'string' }, 'bypass-capacity': { type: 'boolean', default: false } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new Invalid((err as Error).message, [{ field: 'arguments', message: (err as Error).message }]);
  }
  const [reservationId, ...extra] = parsed.positionals;
  if (!reservationId || extra.length > 0)
    throw new Invalid('extend takes one reservation id (devenv-lifecycle help extend)', [
      { field: 'reservation-id', message: 'exactly one is required' },
    ]);
  // eslint-disable-next-line no-control-regex
  if (reservationId.length > 255 || /[\u0000-\u001f\u007f]/.test(reservationId)) {
    throw new Invalid('the reservation id must be at most 255 printable characters', [
      { field: 'reservation-id', message: 'at most 255 printable characters' },
    ]);
  }
  if (parsed.values.by === undefined)
    throw new Invalid('--by is required, e.g. --by 2h', [{ field: '--by', message: 'required' }]);
  return {
    reservationId,
    minutes: parseDuration(parsed.values.by),
    bypassCapacity: parsed.values['bypass-capacity'] === true,
  };
}

/** "2h", "90m", "1h30m" -> minutes; anything else, or more than a week, is refused naming --by. */
export function parseDuration(text: string): number {
  const match = /^(?:(\d{1,4})h)?(?:(\d{1,5})m)?$/.exec(text.trim());
  const minutes = match && (match[1] || match[2]) ? Number(match[1] ?? 0) * 60 + Number(match[2] ?? 0) : NaN;
  if (!Number.isInteger(minutes) || minutes <= 0 || minutes > MAX_ASKED_MINUTES) {
    throw new Invalid(`--by must be a duration such as 2h, 90m or 1h30m, from 1m to ${MAX_ASKED_MINUTES / 60}h`, [
      { field: '--by', message: 'a duration from 1m to 168h' },
    ]);
  }
  return minutes;
}

export async function runExtend(deps: ActDeps, args: ExtendArgs): Promise<Answer> {
  return act(deps, args.reservationId, {
    kind: 'extend',
    minutes: args.minutes,
    by: 'operator',
    bypassCapacity: args.bypassCapacity,
  });
}

export async function extendCommand(argv: string[]): Promise<void> {
  const args = parseExtendArgs(argv);
  const { makeDeps } = await import('../shared/deps.js');
  const deps = makeDeps(loadConfig(cliEnvironment()));
  try {
    const answer = await runExtend(deps, args);
    process.stdout.write(`${JSON.stringify(answer)}\n`);
    if (answer.kind !== 'done') throw new Error(`not extended (${answer.rule}): ${answer.detail}`);
  } finally {
    await deps.close();
  }
}

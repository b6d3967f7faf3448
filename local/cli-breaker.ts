/*
 * devenv-lifecycle breaker override <fn> --for 1h --reason "..." [--by NAME]: an operator's explicit,
 * expiring permission for one function to act past the blast-radius breaker, recorded in the
 * breaker_overrides table and in the decision log in one transaction.
 * devenv-lifecycle breaker status [<fn>]: the overrides in force.
 */
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { systemClock } from '../shared/clock.js';
import { loadConfig } from '../shared/config.js';
import { createPool } from '../shared/db/pool.js';
import { insertOverride } from '../shared/db/queries/breaker.js';
import type { BreakerOverride } from '../shared/db/queries/breaker.js';
import { appendDecisions } from '../shared/db/queries/decisions.js';
import { withTransaction } from '../shared/db/transaction.js';
import { Invalid } from '../shared/errors.js';
import { FUNCTION_NAMES } from '../shared/runtime/invocation.js';
import type { FunctionName } from '../shared/runtime/invocation.js';
import { cliEnvironment } from './cli-env.js';

/** An override is a decision to take risk for a while, never a switch left on. */
const MAX_OVERRIDE_SECONDS = 24 * 3600;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** "90s", "30m", "1h", "1h30m", "2d" -> seconds; anything else, zero, or more than `maxSeconds` is refused naming `field`. */
export function parseSpan(text: string | undefined, field: string, maxSeconds: number): number {
  const parts = text === undefined ? null : /^(\d+[smhd])+$/.test(text.trim()) ? text.trim().match(/\d+[smhd]/g) : null;
  const seconds = parts
    ? parts.reduce((sum, part) => sum + Number(part.slice(0, -1)) * UNIT_SECONDS[part.slice(-1)]!, 0)
    : NaN;
  if (!(seconds > 0 && seconds <= maxSeconds)) {
    throw new Invalid(`${field} must be a duration such as 30m, 1h or 1h30m, at most ${maxSeconds / 3600}h`, [
      { field, message: 'a duration' },
    ]);
  }
  return seconds;
}

export function checkFunctionName(name: string | undefined): FunctionName {
  if (name === undefined || !(FUNCTION_NAMES as readonly string[]).includes(name)) {
    throw new Invalid(`unknown function ${JSON.stringify(name ?? '')}; one of ${FUNCTION_NAMES.join(', ')}`, [
      { field: 'fn', message: 'unknown' },
    ]);
  }
  return name as FunctionName;
}

export interface OverrideRequest {
  fn: FunctionName;
  seconds: number;
  reason: string;
  by: string;
}

export async function grantOverride(pool: pg.Pool, request: OverrideRequest, now: Date): Promise<BreakerOverride> {
  const expiresAt = new Date(now.getTime() + request.seconds * 1000);
  return withTransaction(pool, async (db) => {
    const override = await insertOverride(db, {
      fn: request.fn,
      reason: request.reason,
      createdBy: request.by,
      createdAt: now,
      expiresAt,
    });
    await appendDecisions(
      db,
      [
        {
          fn: request.fn,
          entityKind: 'function',
          entityId: request.fn,
          action: 'breaker-override-granted',
          outcome: 'applied',
          reason: `operator ${request.by} lets ${request.fn} act past the blast-radius breaker until ${expiresAt.toISOString()}: ${request.reason}`,
          inputs: { overrideId: override.id, expiresAt: expiresAt.toISOString(), by: request.by },
        },
      ],
      now,
    );
    return override;
  });
}

export async function liveOverrides(pool: pg.Pool, fn: string | undefined, now: Date): Promise<BreakerOverride[]> {
  const { rows } = await pool.query<BreakerOverride>(
    `select id::text, function, reason, created_by, created_at, expires_at from breaker_overrides
     where ($1::text is null or function = $1) and expires_at > $2::timestamptz order by function, expires_at desc`,
    [fn ?? null, now],
  );
  return rows;
}

export function parseOverrideArgs(args: string[], env: Record<string, string | undefined>): OverrideRequest {
  const values = parse(args, { for: { type: 'string' }, reason: { type: 'string' }, by: { type: 'string' } });
  const reason = values.values.reason?.trim();
  if (!reason)
    throw new Invalid('--reason is required: say why acting past the breaker is right', [
      { field: '--reason', message: 'required' },
    ]);
  return {
    fn: checkFunctionName(values.positionals[0]),
    seconds: parseSpan(values.values.for, '--for', MAX_OVERRIDE_SECONDS),
    reason,
    by: values.values.by?.trim() || env.USER || 'operator',
  };
}

function parse<O extends Record<string, { type: 'string' | 'boolean' }>>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new Invalid((err as Error).message, [{ field: 'arguments', message: (err as Error).message }]);
  }
}

const line = (o: BreakerOverride) =>
  `#${o.id}  ${o.function}  until ${o.expires_at.toISOString()}  by ${o.created_by ?? '-'}: ${o.reason}`;

export async function breaker(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'override' && sub !== 'status')
    throw new Invalid('breaker override <fn> --for 1h --reason "..." | breaker status [<fn>]', [
      { field: 'command', message: 'override or status' },
    ]);
  const env = cliEnvironment();
  const request = sub === 'override' ? parseOverrideArgs(rest, env) : undefined;
  const fn = sub === 'status' && rest[0] !== undefined ? checkFunctionName(rest[0]) : undefined;
  const pool = createPool({ ...loadConfig(env).database, poolMax: 2, applicationName: 'devenv-lifecycle-cli' });
  try {
    if (request)
      return void process.stdout.write(`granted ${line(await grantOverride(pool, request, systemClock.now()))}\n`);
    const overrides = await liveOverrides(pool, fn, systemClock.now());
    process.stdout.write(overrides.length === 0 ? 'no override in force\n' : `${overrides.map(line).join('\n')}\n`);
  } finally {
    await pool.end();
  }
}

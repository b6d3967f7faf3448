/*
 * A function process that the crash test kills (SIGKILL) at chosen points. It serves every
 * function through the real entry, built from the environment like a deployed function, and stops
 * before and after each SQL statement to ask its parent whether to go on: the parent kills it
 * there, so a crash lands exactly between a state change (a COMMIT that returned) and the side
 * effect that follows, or between a side effect and the statement that records it.
 *
 * Messages in: { run: fn, at: ISO time } and { go: step }. Out: { ready }, { step, when, sql }, { done: status }.
 */
import type pg from 'pg';
import { allFunctions } from '../../functions/index.js';
import { ManualClock } from '../../shared/clock.js';
import { loadConfig } from '../../shared/config.js';
import { createPool } from '../../shared/db/pool.js';
import { makeDeps } from '../../shared/deps.js';
import { createEndpoint } from '../../shared/runtime/endpoint.js';
import { crashSessionName } from './crash-session.js';
import { silentLog } from './world.js';

export type ToChild = { run: string; at: string } | { go: number };
export type FromChild = { ready: true } | { step: number; when: 'before' | 'after'; sql: string } | { done: number };

const send = (message: FromChild) => process.send!(message);
const waiting = new Map<number, () => void>();
let steps = 0;

/** Ask the parent at this point; it answers go, or kills the process. */
function checkpoint(when: 'before' | 'after', sql: string): Promise<void> {
  const step = ++steps;
  return new Promise((resolve) => {
    waiting.set(step, resolve);
    send({ step, when, sql: sql.replace(/\s+/g, ' ').slice(0, 80) });
  });
}

type Callback = (err: Error | null, result?: unknown) => void;

/** Every statement of this client (promise or callback style, as pg-pool uses) passes the checkpoints. */
function gate(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (text: unknown, values?: unknown) => Promise<unknown>;
  const gated = async (text: unknown, values?: unknown) => {
    const sql = typeof text === 'string' ? text : String((text as { text?: string }).text);
    await checkpoint('before', sql);
    const result = await query(text, values);
    await checkpoint('after', sql);
    return result;
  };
  (client as unknown as { query: unknown }).query = (text: unknown, values?: unknown, callback?: Callback) => {
    const cb = typeof values === 'function' ? (values as Callback) : callback;
    const run = gated(text, typeof values === 'function' ? undefined : values);
    if (!cb) return run;
    run.then(
      (result) => cb(null, result),
      (err: Error) => cb(err),
    );
    return undefined;
  };
}

function main(): void {
  const clock = new ManualClock();
  const config = loadConfig(process.env);
  // Named after this process, so the parent can wait for its sessions to be gone after a kill.
  const pool = createPool({ ...config.database, applicationName: crashSessionName(process.pid) });
  pool.on('connect', gate);
  const deps = makeDeps(config, { clock, log: silentLog, pool });
  const endpoints = new Map(
    allFunctions.map((fn) => [
      fn.name as string,
      createEndpoint(fn, () => deps, { metrics: deps.metrics, logger: silentLog, bodyLimitBytes: 262_144 }),
    ]),
  );
  process.on('message', (message: ToChild) => {
    if ('go' in message) {
      waiting.get(message.go)?.();
      waiting.delete(message.go);
      return;
    }
    clock.set(message.at);
    void endpoints.get(message.run)!({
      method: 'POST',
      path: '/',
      headers: { 'content-type': 'application/json' },
      rawBody: '{}',
    }).then((answer) => send({ done: answer.status }));
  });
  send({ ready: true });
}

main();

/*
 * The parent side of crash-child.ts: runs a function in the child process and, when told to,
 * SIGKILLs it at the N-th checkpoint of that run, then starts a fresh process for the next call,
 * as a platform restarts a crashed function pod.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Db } from '../../shared/db/pool.js';
import { eventually } from '../support/eventually.js';
import { spawnTracked } from '../support/processes.js';
import type { FromChild, ToChild } from './crash-child.js';
import { crashSessionName } from './crash-session.js';

const SOURCE = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
// Inside node_modules so the bundle's external packages resolve from the project's own.
const BUNDLE = fileURLToPath(
  new URL(`../../node_modules/.cache/devenv-reliability/crash-child-${process.pid}.mjs`, import.meta.url),
);

export interface CrashPoint {
  fn: string;
  when: 'before' | 'after';
  sql: string;
}

export type RunOutcome = { status: number } | { killed: CrashPoint };

export interface Crashable {
  /** Runs `fn` at time `at`; with `killAtStep`, kills the process at that checkpoint of this run if it gets there. */
  run(fn: string, at: Date, killAtStep?: number): Promise<RunOutcome>;
  close(): Promise<void>;
}

async function spawnChild(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawnTracked(process.execPath, [BUNDLE], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  // A child that exits first (killed at the end of the file, or failing to start) must not leave
  // this waiting for a message that never comes: that hung the closing hook.
  const exited = once(child, 'exit').then(([code, signal]) => {
    throw new Error(`crash child exited (${String(code ?? signal)}) before it was ready`);
  });
  const [message] = (await Promise.race([once(child, 'message'), exited])) as [FromChild];
  exited.catch(() => undefined);
  if (!('ready' in message)) throw new Error('crash child did not start');
  return child;
}

/**
 * A killed process's sessions outlive it until PostgreSQL notices the closed socket, which on a
 * loaded machine takes a while, and until then its open transaction keeps its row locks: the next
 * run would skip those rows (SKIP LOCKED) or wait on them, which no restarted pod meets in
 * practice. So the next run starts only once they are gone.
 */
async function sessionsGone(db: Db, pid: number): Promise<void> {
  const none = async () =>
    (await db.query('select 1 from pg_stat_activity where application_name = $1', [crashSessionName(pid)])).rowCount ===
    0;
  await eventually(none, `the sessions of killed process ${pid} gone`, 60_000);
}

/** `db` is the database the children use, to see when a killed one's sessions are gone. */
export async function startCrashable(env: Record<string, string>, db: Db): Promise<Crashable> {
  // One bundle, so each restart costs a plain node start rather than a TypeScript compile.
  await build({
    entryPoints: [SOURCE],
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    outfile: BUNDLE,
    logLevel: 'warning',
  });
  let child = await spawnChild(env);
  // A replacement process starts while the current one works, as a platform keeps a warm replica.
  let standby = spawnChild(env);
  // Awaited later; a standby that dies first is reported there, not as an unhandled rejection.
  standby.catch(() => undefined);
  const run = (fn: string, at: Date, killAtStep?: number) =>
    new Promise<RunOutcome>((resolve, reject) => {
      let first: number | undefined;
      const current = child;
      const onMessage = (message: FromChild) => {
        if ('done' in message) return finish({ status: message.done });
        if (!('step' in message)) return;
        first ??= message.step;
        if (killAtStep !== undefined && message.step - first + 1 >= killAtStep) {
          current.kill('SIGKILL');
          return finish({ killed: { fn, when: message.when, sql: message.sql } });
        }
        current.send({ go: message.step } satisfies ToChild);
      };
      const onExit = () => finish(undefined, new Error(`crash child exited during ${fn} without being killed`));
      const finish = (outcome?: RunOutcome, err?: Error) => {
        current.off('message', onMessage);
        current.off('exit', onExit);
        if (err) reject(err);
        else resolve(outcome!);
      };
      current.on('message', onMessage);
      current.once('exit', onExit);
      current.send({ run: fn, at: at.toISOString() } satisfies ToChild);
    });
  return {
    run: async (fn, at, killAtStep) => {
      const outcome = await run(fn, at, killAtStep);
      if ('killed' in outcome) {
        if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
        await sessionsGone(db, child.pid!);
        child = await standby;
        standby = spawnChild(env);
        standby.catch(() => undefined);
      }
      return outcome;
    },
    close: async () => {
      const ready = await standby.catch(() => undefined);
      for (const process of ready ? [child, ready] : [child]) {
        const exited = process.exitCode === null && process.signalCode === null ? once(process, 'exit') : undefined;
        process.kill('SIGKILL');
        await exited;
      }
      await rm(BUNDLE, { force: true });
    },
  };
}

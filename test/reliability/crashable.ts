/*
 * The parent side of crash-child.ts: runs a function in the child process and, when told to,
 * SIGKILLs it at the N-th checkpoint of that run, then starts a fresh process for the next call,
 * as a platform restarts a crashed function pod.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { FromChild, ToChild } from './crash-child.js';

const SOURCE = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
// Inside node_modules so the bundle's external packages resolve from the project's own.
const BUNDLE = fileURLToPath(new URL(`../../node_modules/.cache/devenv-reliability/crash-child-${process.pid}.mjs`, import.meta.url));

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
  const child = fork(BUNDLE, [], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const [message] = (await once(child, 'message')) as [FromChild];
  if (!('ready' in message)) throw new Error('crash child did not start');
  return child;
}

export async function startCrashable(env: Record<string, string>): Promise<Crashable> {
  // One bundle, so each restart costs a plain node start rather than a TypeScript compile.
  await build({ entryPoints: [SOURCE], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile: BUNDLE, logLevel: 'warning' });
  let child = await spawnChild(env);
  // A replacement process starts while the current one works, as a platform keeps a warm replica.
  let standby = spawnChild(env);
  const run = (fn: string, at: Date, killAtStep?: number) => new Promise<RunOutcome>((resolve, reject) => {
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
        child = await standby;
        standby = spawnChild(env);
      }
      return outcome;
    },
    close: async () => {
      for (const process of [child, await standby]) {
        const exited = process.exitCode === null && process.signalCode === null ? once(process, 'exit') : undefined;
        process.kill('SIGKILL');
        await exited;
      }
      await rm(BUNDLE, { force: true });
    },
  };
}

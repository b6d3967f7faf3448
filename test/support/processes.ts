/*
 * Every process a test starts goes through spawnTracked(): it gets a process group of its own
 * (so `tsx` and whatever it starts go together), and the testkit ends the whole group with
 * SIGKILL when its test ends, passed, failed or timed out (process-guard.ts, a setup file), or, for
 * one started in beforeAll, when its file ends. A worker that dies before it can do that leaves
 * the group's id in a registry directory that the run's global teardown (process-teardown.ts)
 * sweeps. SIGKILL, because a test's process that ignores SIGTERM must not outlive the test.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type Scope = 'test' | 'file';

interface Tracked {
  child: ChildProcess;
  scope: Scope;
  record?: string;
}

const live = new Set<Tracked>();
let scope: Scope = 'file';
let registry: string | undefined;

/** Where this run keeps the group ids of live processes (set by the setup file). */
export function useRegistry(dir: string | undefined): void {
  registry = dir;
  if (dir) mkdirSync(dir, { recursive: true });
}

let exitHookInstalled = false;

/** At the worker's exit, end what is still tracked: once per worker, whichever test files it runs. */
export function endTrackedAtExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', endTrackedNow);
}

/** Processes spawned from now on belong to the running test (`test`) or to the file (`file`). */
export function enterScope(next: Scope): void {
  scope = next;
}

/** The start time of a process in clock ticks since boot (/proc), so a reused pid is not mistaken for it. */
export function startTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Whether a process exists and is not a zombie waiting to be reaped. */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    if (process.platform === 'linux') return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: the group is already gone.
  }
}

/** child_process.spawn, in a process group of its own that the testkit ends. */
export function spawnTracked(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  const child = spawn(command, args, { ...options, detached: true });
  if (child.pid === undefined) return child;
  const tracked: Tracked = { child, scope };
  if (registry) {
    tracked.record = join(registry, String(child.pid));
    writeFileSync(tracked.record, startTicks(child.pid) ?? '');
  }
  live.add(tracked);
  // The group outlives its leader when the leader's children stay: end them all as soon as it exits.
  child.once('exit', () => {
    killGroup(child.pid!);
    forget(tracked);
  });
  return child;
}

function forget(tracked: Tracked): void {
  live.delete(tracked);
  if (tracked.record) rmSync(tracked.record, { force: true });
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions extends SpawnOptions {
  /** Ends the whole group with SIGKILL after this long (the result then has signal SIGKILL). */
  timeoutMs?: number;
  /** Written to the command's standard input (closed after); without it, stdin is closed from the start. */
  input?: string;
}

/** Runs a command to its end (tracked, so a test that times out still ends it) and collects its output. */
export async function runTracked(
  command: string,
  args: readonly string[],
  { timeoutMs, input, ...options }: RunOptions = {},
): Promise<Finished> {
  const child = spawnTracked(command, args, {
    ...options,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  // A command may exit without reading its input: that EPIPE is not the test's failure.
  child.stdin?.on('error', () => undefined);
  child.stdin?.end(input);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => killGroup(child.pid!), timeoutMs);
  try {
    const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
    return { code, signal, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/** A command that did not exit 0, with what it printed (the shape of a failed promisified execFile). */
export class ProcessFailed extends Error {
  constructor(
    readonly command: string,
    readonly code: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`${command} ended with ${signal ?? `exit code ${code}`}: ${stderr.trim().split('\n').at(-1) ?? ''}`);
  }
}

/** runTracked, rejecting with ProcessFailed unless the command exits 0 (and with the spawn error if it cannot start). */
export async function execTracked(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<Finished> {
  const finished = await runTracked(command, args, options);
  if (finished.code === 0) return finished;
  throw new ProcessFailed(command, finished.code, finished.signal, finished.stdout, finished.stderr);
}

/**
 * Whether a standard tool answers `args` (its version) with exit 0 within `timeoutMs`; when it does
 * not, says so once, naming what is skipped and how to install it.
 */
export async function toolInstalled(
  tool: { command: string; args: readonly string[]; timeoutMs: number },
  skipped: string,
): Promise<boolean> {
  const installed = await execTracked(tool.command, tool.args, { timeoutMs: tool.timeoutMs }).then(
    () => true,
    () => false,
  );
  if (!installed) console.warn(`${tool.command} is not installed, so ${skipped} are skipped`);
  return installed;
}

/** Ends every tracked group of `which` scope (or all) and waits for each leader to exit. */
export async function endTracked(which: Scope | 'all'): Promise<void> {
  const ending = [...live].filter((t) => which === 'all' || t.scope === which);
  await Promise.all(
    ending.map(async (tracked) => {
      const { child } = tracked;
      const exited = child.exitCode === null && child.signalCode === null ? once(child, 'exit') : undefined;
      killGroup(child.pid!);
      await exited;
      forget(tracked);
    }),
  );
}

/** For process exit, where nothing can be awaited. */
export function endTrackedNow(): void {
  for (const tracked of live) {
    killGroup(tracked.child.pid!);
    forget(tracked);
  }
}

/** The global teardown's sweep: groups left by a worker that died, unless their pid was reused since. */
export function sweepRegistry(dir: string, entries: string[]): void {
  for (const entry of entries) {
    const pid = Number(entry);
    const recorded = readRecord(join(dir, entry));
    if (recorded === undefined) continue;
    if (Number.isInteger(pid) && pid > 0 && (recorded === '' || startTicks(pid) === recorded)) killGroup(pid);
  }
  rmSync(dir, { recursive: true, force: true });
}

function readRecord(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

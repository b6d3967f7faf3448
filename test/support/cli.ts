/*
 * The command line as the tests run it: a Node process through the testkit (so it is ended even
 * when its test times out), with no secrets folder and silent logs unless the test says otherwise.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { buildCli } from '../../build/cli.js';
import { runTracked } from './processes.js';

/** The CLI as `npm install` links it: it runs the build, or the sources while any is newer. */
export const CLI_BIN = 'bin/devenv-lifecycle.mjs';

export interface NodeRunOptions {
  /** Set over the inherited environment (after `unset`). */
  env?: Record<string, string>;
  /** Inherited variables the process must not see. */
  unset?: readonly string[];
  cwd?: string;
  timeoutMs?: number;
}

export interface NodeRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node <args>` to its end; a non-zero exit is a result, not an error. */
export async function runNode(args: readonly string[], how: NodeRunOptions = {}): Promise<NodeRun> {
  const inherited: NodeJS.ProcessEnv = { ...process.env };
  for (const name of how.unset ?? []) delete inherited[name];
  const { code, stdout, stderr } = await runTracked(process.execPath, args, {
    env: { ...inherited, SECRETS_DIR: join(tmpdir(), 'no-secrets'), LOG_LEVEL: 'silent', ...how.env },
    cwd: how.cwd,
    timeoutMs: how.timeoutMs ?? 60_000,
  });
  return { code, stdout, stderr };
}

/** Runs the CLI from bin/ (`CLI_BIN`) or from the given entry. */
export function runCli(args: readonly string[], how: NodeRunOptions & { entry?: string } = {}): Promise<NodeRun> {
  return runNode([resolve(how.entry ?? CLI_BIN), ...args], how);
}

/**
 * Builds the CLI as `npm ci` does, into a folder of the file's own two below the root (as dist/cli),
 * for the file's tests, and removes it after. Returns the built entry.
 */
export function useBuiltCli(name: string): string {
  const dir = resolve('dist', `${name}-${process.pid}`);
  beforeAll(() => buildCli(dir), 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'cli.mjs');
}

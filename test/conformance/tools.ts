/*
 * The upstream OpenFaaS tools (unmodified binaries) and the local stack they are pointed at: the
 * stack runs as `npm start` does, in its own process, on free ports, with its own schedules off
 * so every tick comes from the real cron-connector.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { schedulesFromStack } from '../../local/schedules.js';
import { startEmbeddedPostgres } from '../../local/embedded-postgres.js';
import type { EmbeddedDatabase } from '../../local/embedded-postgres.js';
import { freePort } from '../../local/free-port.js';
import { runTracked, spawnTracked } from '../support/processes.js';

export const TOOLS_DIR = resolve(process.env.OPENFAAS_TOOLS_DIR ?? '../shared/tools/openfaas');
export const toolsPresent = existsSync(join(TOOLS_DIR, 'faas-cli')) && existsSync(join(TOOLS_DIR, 'cron-connector'));

/** Every function stack.yml schedules: what the cron-connector must find and fire. */
export const scheduledFunctions = schedulesFromStack(readFileSync('stack.yml', 'utf8')).map((schedule) => schedule.fn);

// faas-cli keeps its config under $HOME/.openfaas; a throw-away home keeps the tier's out of the user's.
const home = mkdtempSync(join(tmpdir(), 'faas-cli-home-'));

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function faasCli(args: string[], stdin = ''): Promise<ToolResult> {
  const { code, stdout, stderr } = await runTracked(join(TOOLS_DIR, 'faas-cli'), args, {
    env: { PATH: process.env.PATH, HOME: home },
    timeoutMs: 30_000,
    input: stdin,
  });
  return { code: code ?? 1, stdout, stderr };
}

export interface RunningStack {
  url: string;
  database: EmbeddedDatabase;
  output(): string;
  stop(): Promise<void>;
}

/** `npm start -- --port P --no-demo --no-schedules --schedule CRON`, over a throw-away database. */
export async function startStack(schedule: string): Promise<RunningStack> {
  const database = await startEmbeddedPostgres({
    dataDir: mkdtempSync(join(tmpdir(), 'conformance-pg-')),
    persistent: false,
    fast: true,
  });
  const port = await freePort();
  const child = spawnTracked(
    process.execPath,
    [
      '--import',
      'tsx',
      'local/start.ts',
      '--port',
      String(port),
      '--no-demo',
      '--no-schedules',
      '--schedule',
      schedule,
    ],
    {
      env: {
        ...process.env,
        DATABASE_URL: database.url('postgres'),
        SECRETS_DIR: join(home, 'no-secrets'),
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  await untilReady(url, child, () => output);
  return {
    url,
    database,
    output: () => output,
    stop: async () => {
      await stopChild(child);
      await database.stop();
    },
  };
}

async function untilReady(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const until = Date.now() + 100_000;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`the local stack exited (${child.exitCode}):\n${output()}`);
    const status = await fetch(`${url}/healthz`).then(
      (answer) => answer.status,
      () => 0,
    );
    if (status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`the local stack did not become ready:\n${output()}`);
}

export interface Connector {
  log(): string;
  stop(): Promise<void>;
}

/** The unmodified cron-connector, configured only through its documented variables. */
export function startConnector(gatewayUrl: string): Connector {
  const child = spawnTracked(join(TOOLS_DIR, 'cron-connector'), [], {
    env: { PATH: process.env.PATH, HOME: home, gateway_url: gatewayUrl, rebuild_interval: '2s' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  return { log: () => log, stop: () => stopChild(child) };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

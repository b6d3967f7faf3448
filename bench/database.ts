/*
 * Foundation costs: starting the embedded server, applying all migrations to an empty database,
 * and cloning the migrated template (what every test file pays).
 */
import pg from 'pg';
import { startEmbeddedPostgres } from '../local/embedded-postgres.js';
import { migrate } from '../shared/db/migrate.js';
import { fmt, median, timeMs } from './stats.js';

async function admin(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(sql).finally(() => client.end());
}

export async function benchDatabase(rounds: number): Promise<string[]> {
  const starts: number[] = [];
  const migrations: number[] = [];
  const clones: number[] = [];
  for (let round = 0; round < rounds; round++) {
    let server: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
    starts.push(
      await timeMs(async () => {
        server = await startEmbeddedPostgres({
          dataDir: `/dev/shm/devenv-lifecycle-bench-${process.pid}`,
          persistent: false,
          fast: true,
        });
      }),
    );
    const adminUrl = server!.url('postgres');
    await admin(adminUrl, 'create database bench_template');
    const pool = new pg.Pool({ connectionString: server!.url('bench_template'), max: 1 });
    migrations.push(await timeMs(() => migrate(pool)));
    await pool.end();
    for (let copy = 0; copy < 5; copy++) {
      clones.push(
        await timeMs(() => admin(adminUrl, `create database copy_${copy} template bench_template strategy file_copy`)),
      );
    }
    await server!.stop();
  }
  return [
    '| measure | median | runs |',
    '|---|---|---|',
    `| embedded PostgreSQL initdb + start (tmpfs) | ${fmt(median(starts))} | ${starts.length} |`,
    `| apply all migrations to an empty database | ${fmt(median(migrations))} | ${migrations.length} |`,
    `| clone the migrated template (one per test file) | ${fmt(median(clones))} | ${clones.length} |`,
  ];
}

export interface BenchDatabase {
  /** A migrated, empty database of its own on the embedded server. */
  url: string;
  pool: pg.Pool;
  stop(): Promise<void>;
}

/**
 * One embedded server on tmpfs with a migrated database, for a benchmark section to fill. With
 * `statementStatistics` the server keeps pg_stat_statements, so a section can read how long its
 * statements ran in the server (without the client's parsing and pauses). `autovacuum: false` is
 * for a section whose rounds vacuum and analyze what they rewrite themselves.
 */
export async function startBenchDatabase(
  name: string,
  options: { statementStatistics?: boolean; autovacuum?: boolean } = {},
): Promise<BenchDatabase> {
  const settings: Record<string, string> = {};
  if (options.statementStatistics) settings.shared_preload_libraries = 'pg_stat_statements';
  if (options.autovacuum === false) settings.autovacuum = 'off';
  const server = await startEmbeddedPostgres({
    dataDir: `/dev/shm/devenv-lifecycle-bench-${name}-${process.pid}`,
    persistent: false,
    fast: true,
    settings,
  });
  await admin(server.url('postgres'), 'create database bench');
  const url = server.url('bench');
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  // pg's pool.end() resolves before its sockets close, and the server stopping then terminates
  // them: expected at the end of a section, never a reason to end the whole benchmark.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  await migrate(pool);
  if (options.statementStatistics) await pool.query('create extension pg_stat_statements');
  return {
    url,
    pool,
    stop: async () => {
      await pool.end();
      await server.stop();
    },
  };
}

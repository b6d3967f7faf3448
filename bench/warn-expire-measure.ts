/*
 * What one run of warn or expire costs, measured from outside: every SQL statement any pg client
 * sends (pool queries and transactions alike) and how long at least one was in flight, each one's
 * latency, the rows the server read, and the Kubernetes calls the simulator received. Also the
 * plans of captured statements, for the record in BENCHMARKS.md.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { expire } from '../functions/expire/handler.js';
import type { warn } from '../functions/warn/handler.js';
import type { Deps } from '../shared/deps.js';
import type { Sim } from '../sim/server.js';
import { timeMs } from './stats.js';

export interface Statement {
  text: string;
  values: unknown[];
}

// The time at least one statement was in flight: with concurrent deliveries, summed latencies
// would count overlaps.
const tally = { statements: 0, dbMs: 0, inFlight: 0, busySince: 0 };
let captured: Statement[] | undefined;
let timed: StatementTime[] | undefined;

/** One statement's latency as the client saw it, with its text shortened to name it. */
export interface StatementTime {
  text: string;
  ms: number;
}

/** Keep the text and values of every statement from now on, until the returned function is called. */
export function captureStatements(): () => Statement[] {
  const kept: Statement[] = [];
  captured = kept;
  return () => ((captured = undefined), kept);
}

function started(): void {
  if (tally.inFlight++ === 0) tally.busySince = performance.now();
}

function finished(text: string, since: number): void {
  tally.statements += 1;
  const now = performance.now();
  if (--tally.inFlight === 0) tally.dbMs += now - tally.busySince;
  timed?.push({ text: text.replace(/\s+/g, ' ').trim().slice(0, 90), ms: now - since });
}

/** From now on, count every statement any pg client sends (a pool's queries go through Client#query too). */
export function countStatements(): void {
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown; counted?: boolean };
  if (proto.counted) return;
  const original = proto.query;
  proto.counted = true;
  proto.query = function (this: unknown, ...args: unknown[]) {
    const first = args[0];
    const text = typeof first === 'string' ? first : String((first as { text?: string } | undefined)?.text ?? '');
    if (typeof first === 'string') captured?.push({ text: first, values: Array.isArray(args[1]) ? args[1] : [] });
    started();
    const since = performance.now();
    const done = () => finished(text, since);
    const callback = args.at(-1);
    if (typeof callback === 'function') {
      args[args.length - 1] = (...result: unknown[]) => (done(), callback(...result));
      return original.apply(this, args);
    }
    const result = original.apply(this, args) as Promise<unknown> | undefined;
    return result && typeof result.then === 'function' ? result.finally(done) : (done(), result);
  };
}

/**
 * For a function process (bench/function-process.ts): the statements, the DB time and each
 * statement's latency of one run, in the order they finished.
 */
export function statementProbe() {
  let before = { ...tally };
  return {
    start: () => {
      before = { ...tally };
      timed = [];
    },
    stop: () => {
      const times = timed ?? [];
      timed = undefined;
      return { statements: tally.statements - before.statements, dbMs: tally.dbMs - before.dbMs, times };
    },
  };
}

/** Rows the server read (pg_stat_database), after every pooled backend flushed its counters. */
async function rowsRead(pool: pg.Pool): Promise<number> {
  const clients = await Promise.all(Array.from({ length: pool.idleCount }, () => pool.connect()));
  await Promise.all(
    clients.map((client) => client.query('select pg_stat_force_next_flush()').finally(() => client.release())),
  );
  const { rows } = await pool.query<{ n: string }>(
    'select tup_returned + tup_fetched as n from pg_stat_database where datname = current_database()',
  );
  return Number(rows[0]!.n);
}

export interface Measure {
  wallMs: number;
  statements: number;
  dbMs: number;
  rows: number;
  kube: { list: number; get: number; exec: number };
  done: number;
}

export async function measure(deps: Deps, sim: Sim, fn: typeof warn | typeof expire, key: string): Promise<Measure> {
  const rowsBefore = await rowsRead(deps.pool);
  sim.requests.clear();
  const before = { ...tally };
  let summary: Record<string, number> = {};
  const invocation = {
    kind: 'schedule' as const,
    source: 'cron-connector' as const,
    callId: randomUUID(),
    options: fn.optionsSchema.parse({}),
  };
  const wallMs = await timeMs(async () => ({ summary } = await fn.handle(invocation, deps)));
  const statements = tally.statements - before.statements;
  const dbMs = tally.dbMs - before.dbMs;
  const requests = sim.requests.all();
  const kube = {
    list: requests.filter((r) => r.method === 'GET' && r.path.endsWith('/pods')).length,
    get: requests.filter((r) => r.method === 'GET' && /\/pods\/[^/]+$/.test(r.path)).length,
    exec: requests.filter((r) => r.path.endsWith('/exec')).length,
  };
  return { wallMs, statements, dbMs, rows: (await rowsRead(deps.pool)) - rowsBefore, kube, done: summary[key] ?? 0 };
}

/** EXPLAIN ANALYZE runs the statement: inside a transaction that is rolled back, it changes nothing. */
async function explain(pool: pg.Pool, statement: Statement) {
  const client = await pool.connect();
  try {
    await client.query('begin');
    return await client.query<{ 'QUERY PLAN': string }>(
      `explain (analyze, buffers) ${statement.text}`,
      statement.values,
    );
  } finally {
    await client.query('rollback');
    client.release();
  }
}

/** A statement to explain: found among the captured ones by a marker in its text; the plan should use `index`. */
export interface Sweep {
  name: string;
  marker: string;
  index: string;
}

export async function plans(pool: pg.Pool, statements: Statement[], sweeps: Sweep[]): Promise<string[]> {
  const out: string[] = [];
  for (const sweep of sweeps) {
    const statement = statements.find((s) => s.text.includes(sweep.marker));
    if (!statement) throw new Error(`bench: no statement captured for ${sweep.name}`);
    const { rows: plan } = await explain(pool, statement);
    // A batch's ids appear in its index condition: long lines are cut, the plan's shape is what matters.
    const text = plan
      .map((row) => row['QUERY PLAN'])
      .map((line) => (line.length > 240 ? `${line.slice(0, 240)} …` : line));
    const uses = text.some((line) => line.includes(sweep.index));
    out.push(
      `**${sweep.name}** — ${uses ? `uses \`${sweep.index}\`` : `does NOT use \`${sweep.index}\``}:`,
      '',
      '```',
      ...text,
      '```',
      '',
    );
  }
  return out;
}

/*
 * Every function's run at fleet scale stays within its budget and 128 MiB (issue 18), for the
 * functions the other sections do not cover: warn, expire and ending-watchdog, each in a process of
 * its own (bundled as deployed, plain node with the NODE_OPTIONS stack.yml gives it), over 100,000
 * active reservations with a pod in the simulator for every one of them (quick: 10,000), of which
 * 1% owe their 30-minute warning and 1% are past deadline + grace, and 10,000 labs of which 200
 * are stuck in ENDING. The simulator and the Knative sink are a process of their own
 * (bench/warn-expire-sim.ts), reached over HTTP; event delivery is on; the clock is the system's.
 * Per run: wall time against its deployed RUN_BUDGET_SECONDS, CPU, peak RSS, SQL statements and what it did.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import type { BenchContext } from './context.js';
import { startBenchDatabase } from './database.js';
import type { RunFigures, RunRequest } from './function-process.js';
import { fmt } from './stats.js';
import { functionEnv, seedReservations } from './warn-expire-sim.js';
import type { ExpireSimCommand, ExpireSimStats } from './warn-expire-sim.js';
import { bundleWorker, deployedEnvironment, deployedNodeOptions, functionNodeNote, startWorker } from './workers.js';
import type { Worker } from './workers.js';

const MEMORY_LIMIT_MIB = 128;
const LABS = 10_000;
const STUCK_LABS = 200;
const FUNCTIONS = ['warn', 'expire', 'ending-watchdog'] as const;
type Name = (typeof FUNCTIONS)[number];

/** The run budget each function is deployed with (RUN_BUDGET_SECONDS in stack.yml). */
const budgetSeconds = (name: Name) => Number(deployedEnvironment(name).RUN_BUDGET_SECONDS ?? 50);

type SimProcess = Worker<ExpireSimCommand, { stats?: ExpireSimStats }>;
type FunctionProcess = Worker<Omit<RunRequest, 'id'>, { figures: RunFigures }>;

/** `due` reservations overdue and `due` owing a warning; the first STUCK_LABS labs (by id) in ENDING for two hours. */
async function seed(pool: pg.Pool, fleet: number, due: number): Promise<void> {
  await seedReservations(pool, fleet, due, due);
  await pool.query(
    `insert into labs (id, owner_id, status, runtime, created_at, updated_at, status_changed_at, ending_since)
     select ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, gen_random_uuid(), case when i < $2 then 'ending' else 'ready' end, 'k8s',
            $1::timestamptz - interval '3 hours', $1::timestamptz - interval '2 hours', $1::timestamptz - interval '2 hours',
            case when i < $2 then $1::timestamptz - interval '2 hours' end
     from generate_series(0, $3 - 1) as i`,
    [new Date(), STUCK_LABS, LABS],
  );
  await pool.query('vacuum analyze reservations, labs');
}

/** Back to the seeded state between rounds: the same work is due again, with the clock moved on. */
async function reset(pool: pg.Pool, due: number): Promise<void> {
  await pool.query(`truncate event_outbox, decision_log, function_runs, warning_ledger;
    update reservations set status = 'active', reservation_ended = null, status_history = '[]', failure_reason = null,
      warnings_sent = '{}', last_warning_time = null where status <> 'active' or warnings_sent <> '{}';
    update pod_observations set checked_at = null, absent_since = null, last_error = null`);
  await pool.query(
    `update labs set status = 'ending', ending_since = now() - interval '2 hours', finished_at = null,
      claimed_by = null, claim_expires_at = null, watchdog_attempted_at = null
      where id < ('00000000-0000-4000-8000-' || lpad($1::text, 12, '0'))::uuid`,
    [STUCK_LABS],
  );
  // Deadlines relative to now again: the previous rounds took minutes of the system clock.
  await pool.query(
    `update reservations r set expires_at = case
       when n.i < $1 then now() - interval '10 minutes' - (n.i % 600) * interval '1 second'
       else now() + interval '25 minutes' + (n.i % 300) * interval '1 second' end
     from (select reservation_id, substr(reservation_id, 7)::int as i from reservations) as n
     where r.reservation_id = n.reservation_id and n.i < 2 * $1`,
    [due],
  );
  await pool.query('vacuum analyze reservations, labs, event_outbox, decision_log, function_runs');
}

interface Row {
  name: Name;
  round: number;
  figures: RunFigures;
}

export async function benchFleetMemory(context: BenchContext): Promise<string[]> {
  const fleet = context.quick ? 10_000 : 100_000;
  const due = fleet / 100;
  const rounds = context.quick ? 1 : 3;
  const bundleDir = await mkdtemp(join(tmpdir(), 'devenv-lifecycle-bench-fleet-'));
  const sim: SimProcess = await startWorker('./warn-expire-sim.ts');
  const db = await startBenchDatabase('fleet-memory');
  const processes = new Map<Name, FunctionProcess>();
  const rows: Row[] = [];
  let simStats: ExpireSimStats | undefined;
  try {
    const bundle = await bundleWorker('fleet-memory-run', bundleDir);
    for (const name of FUNCTIONS) processes.set(name, await startWorker(bundle, deployedNodeOptions(name)));
    const env = { ...functionEnv(sim.ready, db.url, Math.max(200, due)), WATCHDOG_MAX_LABS: String(STUCK_LABS) };
    await sim.ask({ type: 'seed', namespace: 'octolab-labs', count: 0 });
    await Promise.all([sim.ask({ type: 'seed', namespace: 'gpu-dev', count: fleet }), seed(db.pool, fleet, due)]);
    // Round 0 warms each instance (a deployed function has served runs before) and is not shown.
    for (let round = 0; round <= rounds; round++) {
      await reset(db.pool, due);
      for (const name of FUNCTIONS) {
        const runEnv = { ...env, RUN_BUDGET_SECONDS: String(budgetSeconds(name)) };
        const { figures } = await processes.get(name)!.ask({ fn: name, env: runEnv, maxItems: Math.max(200, due) });
        if (round > 0) rows.push({ name, round, figures });
      }
    }
    simStats = (await sim.ask({ type: 'stats' })).stats;
  } finally {
    for (const fn of processes.values()) fn.stop();
    sim.stop();
    await db.stop();
    await rm(bundleDir, { recursive: true, force: true });
  }
  return report(context, fleet, due, rounds, rows, simStats);
}

const did = (summary: Record<string, number>) =>
  Object.entries(summary)
    .filter(([, value]) => typeof value === 'number' && value > 0)
    .map(([key, value]) => `${key} ${value}`)
    .join(', ');

function report(
  context: BenchContext,
  fleet: number,
  due: number,
  rounds: number,
  rows: Row[],
  simStats: ExpireSimStats | undefined,
): string[] {
  const worst = (name: Name, value: (figures: RunFigures) => number) =>
    Math.max(...rows.filter((row) => row.name === name).map((row) => value(row.figures)));
  const fleetNote = context.quick
    ? `quick mode: ${fleet.toLocaleString('en')} active reservations, not the issue's 100,000 (the full run)`
    : `the issue's fleet`;
  const flags = (name: Name) => deployedNodeOptions(name).join(' ') || 'none';
  return [
    `${fleet.toLocaleString('en')} active reservations, each with its pod in the simulator; ${due.toLocaleString('en')} past deadline + grace and ${due.toLocaleString('en')} owing their 30-minute warning; ${LABS.toLocaleString('en')} labs, ${STUCK_LABS} of them in ENDING for two hours (${fleetNote}). Each round resets the same work to due and runs warn, expire and ending-watchdog once, in that order, through the real handlers, with MAX_ITEMS ${Math.max(200, due)}, WATCHDOG_MAX_LABS ${STUCK_LABS}, the rails at their defaults and the system clock; ${rounds} round(s) after one unrecorded warm-up round.`,
    `As deployed: the simulator and the Knative sink (answering 202) are a process of their own, reached over HTTP, pod execs included; each function is a process of its own (bundled by esbuild, a warm instance, plain node with its stack.yml NODE_OPTIONS: ${FUNCTIONS.map((name) => `${name} ${flags(name)}`).join('; ')}); event delivery is on; PostgreSQL is the embedded server. What differs: pod execs answer at the simulator's speed, not a kubelet's (the warn-delivery section models 100 ms per exec).`,
    `Peak RSS is the function process's, sampled every 10 ms, with its level before the run; CPU is its user + system time; SQL statements every statement of the run. The ${functionNodeNote()}.`,
    '',
    '| function | round | wall (budget) | CPU | peak RSS (before) | peak V8 heap used | SQL statements | outcome | what it did |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map(({ name, round, figures }) => {
      const probe = figures.probe as { statements?: number } | undefined;
      return `| ${name} | ${round} | ${fmt(figures.ms)} (${budgetSeconds(name)} s) | ${fmt(figures.cpuMs)} | ${figures.rssPeakMiB.toFixed(0)} MiB (${figures.rssBeforeMiB.toFixed(0)}) | ${figures.heapPeakMiB.toFixed(0)} MiB | ${probe?.statements ?? '–'} | ${figures.result.outcome} | ${did(figures.result.summary)} |`;
    }),
    '',
    ...FUNCTIONS.map((name) => {
      const rss = worst(name, (f) => f.rssPeakMiB);
      const wall = worst(name, (f) => f.ms) / 1000;
      const ok = rss <= MEMORY_LIMIT_MIB && wall <= budgetSeconds(name);
      return `Target "${name} at fleet scale within its budget and ${MEMORY_LIMIT_MIB} MiB": worst peak RSS ${rss.toFixed(0)} MiB, longest run ${wall.toFixed(1)} s of ${budgetSeconds(name)} s — ${ok ? 'met' : 'MISSED'}.`;
    }),
    ...(simStats
      ? [
          `The simulator served ${simStats.kubeCalls} Kubernetes calls and its sink accepted ${simStats.eventsAccepted} events over all rounds.`,
        ]
      : []),
  ];
}

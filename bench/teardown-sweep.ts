/*
 * cleanup-pod's sweep as deployed: 500 ended reservations torn down amid an active fleet (100,000
 * active reservations, quick: 10,000, each with its labelled pod, `-ssh` service and attached
 * disk, and 100,000 snapshots of those disks). The simulator is a process of its own (bench/teardown-sim.ts), reached
 * over HTTP by the real clients; the function is another (bench/teardown-run.ts, a warm instance
 * bundled by esbuild as build/bundle.ts does and started with plain node) on the system clock, so
 * the pods' 30 s grace period, the run budget and the deadline are real time; PostgreSQL is the
 * embedded server; events go to a local sink as Knative would take them. The function's CPU, peak
 * RSS and SQL statements are measured inside its process, the calls it made by the simulator.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock } from '../shared/clock.js';
import { loadConfig } from '../shared/config.js';
import { startBenchDatabase } from './database.js';
import type { BenchDatabase } from './database.js';
import type { RunFigures, RunRequest } from './function-process.js';
import type { SeededReservation, TeardownSimCommand, TeardownSimStats } from './teardown-sim.js';
import { NAMESPACE } from './teardown-sim.js';
import { bundleWorker, deployedNodeOptions, functionNodeNote, startWorker } from './workers.js';
import type { Worker } from './workers.js';
import { simProductEnv } from '../sim/product-env.js';
import { startSink, sinkUrl } from './sink.js';

type SimProcess = Worker<TeardownSimCommand, { stats?: TeardownSimStats }>;
type FunctionProcess = Worker<Omit<RunRequest, 'id'>, { figures: RunFigures }>;

const UPDATER = 'gpu-dev-availability-updater';
const MEMORY_LIMIT_MIB = 128;
/** EC2 takes at most 200 filter values in one call (FilterLimitExceeded beyond), so 200 volume ids a DescribeVolumes. */
const VOLUME_IDS_PER_CALL = 200;
/** Between runs: longer than the pods' grace period and the 30 s retry delay, so what is left is due. */
const PAUSE_BETWEEN_RUNS_MS = 31_000;
const MAX_RUNS = 12;

interface SweepRun {
  figures: RunFigures;
  sim: TeardownSimStats;
  /** The simulator process's CPU during the run. */
  simCpuMs: number;
}

const hex = (prefix: string, n: number) => `${prefix}${n.toString(16).padStart(16, '0')}`;

const fleetMember = (i: number): SeededReservation => ({
  reservationId: `act-${String(i).padStart(7, '0')}`,
  podName: `gpu-dev-act-${String(i).padStart(7, '0')}`,
  volumeId: hex('vol-a', i),
});

const endedMember = (i: number): SeededReservation => ({
  reservationId: `end-${String(i).padStart(7, '0')}`,
  podName: `gpu-dev-end-${String(i).padStart(7, '0')}`,
  volumeId: hex('vol-d', i),
});

/** The rows behind the simulator's objects: reservations (active or ended 1 minute ago) and the disks they hold. */
async function seedRows(db: BenchDatabase, reservations: SeededReservation[], status: string): Promise<void> {
  await db.pool.query(
    `with r as (select * from unnest($1::text[], $2::text[], $3::text[]) as t(id, pod, volume))
     insert into reservations (reservation_id, user_id, status, created_at, launched_at, status_changed_at, expires_at,
       pod_name, namespace, disk_name, ebs_volume_id)
     select id, 'user-' || id || '@example.com', $4::text, $5::timestamptz - interval '3 hours', $5::timestamptz - interval '3 hours',
       case when $4::text = 'active' then $5::timestamptz - interval '3 hours' else $5::timestamptz - interval '1 minute' end,
       $5::timestamptz + case when $4::text = 'active' then interval '20 hours' else interval '-1 minute' end, pod, $6, 'home', volume
     from r`,
    [
      reservations.map((r) => r.reservationId),
      reservations.map((r) => r.podName),
      reservations.map((r) => r.volumeId),
      status,
      systemClock.now(),
      NAMESPACE,
    ],
  );
  await db.pool.query(
    `insert into disks (user_id, disk_name, in_use, reservation_id, ebs_volume_id, snapshot_count)
     select user_id, disk_name, true, reservation_id, ebs_volume_id, 10 from reservations where reservation_id = any($1::text[])`,
    [reservations.map((r) => r.reservationId)],
  );
  await db.pool.query('vacuum analyze reservations, disks');
}

async function runUntilDone(fn: FunctionProcess, sim: SimProcess, env: Record<string, string>, count: number) {
  const runs: SweepRun[] = [];
  let cleaned = 0;
  while (cleaned < count && runs.length < MAX_RUNS) {
    if (runs.length > 0) await sleep(PAUSE_BETWEEN_RUNS_MS);
    const before = (await sim.ask({ type: 'stats' })).stats!;
    const { figures } = await fn.ask({ env, maxItems: count });
    const after = (await sim.ask({ type: 'stats' })).stats!;
    runs.push({ figures, sim: after, simCpuMs: after.cpuMs - before.cpuMs });
    cleaned += figures.result.summary.cleaned ?? 0;
    if (figures.result.outcome === 'failed' && (figures.result.summary.claimed ?? 0) === 0) break;
  }
  return { runs, cleaned };
}

const statementsOf = (run: SweepRun) => Number(run.figures.probe?.statements ?? 0);
const probedMiB = (run: SweepRun, key: string) => `${Number(run.figures.probe?.[key] ?? 0).toFixed(0)} MiB`;
const per = (runs: SweepRun[], pick: (run: SweepRun) => number, count: number) =>
  Number((runs.reduce((sum, run) => sum + pick(run), 0) / count).toFixed(3));
const ec2Of = (run: SweepRun) => Object.values(run.sim.ec2Calls).reduce((sum, n) => sum + n, 0);

function report(runs: SweepRun[], count: number, cleaned: number, fleet: number, snapshots: number, budget: number) {
  const kubePer = per(runs, (r) => r.sim.kubeCalls, count);
  const sqlPer = per(runs, statementsOf, count);
  const describeCalls = runs.reduce((sum, r) => sum + r.sim.describeVolumes.calls, 0);
  // The honest floor: each run reads the volumes waiting in it, at most 200 ids a call.
  const describeLimit = runs.reduce(
    (sum, r) => sum + Math.ceil(r.sim.describeVolumes.distinctIds / VOLUME_IDS_PER_CALL),
    0,
  );
  const perRunVolumes = runs.map((r) => r.sim.describeVolumes.distinctIds).join(' + ');
  const longest = Math.max(...runs.map((r) => r.figures.ms));
  const peak = Math.max(...runs.map((r) => r.figures.rssPeakMiB));
  return [
    `### One sweep over ${count} ended reservations amid ${fleet.toLocaleString('en')} active ones (each with its pod, \`-ssh\` service and attached disk) and ${snapshots.toLocaleString('en')} snapshots of their disks`,
    '',
    'As deployed: the simulator is its own process, reached over HTTP by the real clients; the function is another (a warm',
    'instance serving the runs in turn, bundled by esbuild as build/bundle.ts does and started with plain node) on the system clock, so',
    "the pods' 30 s grace period, the run budget and its deadline are real time; events are delivered (Knative mode, to a local sink);",
    'the blast-radius breaker at its defaults (the active fleet sets its limit). A run reads back the pods it deleted once their grace',
    'period has passed, in the same run when its budget allows; a run starts no group after 80% of its budget and leaves the rest to the',
    `next. Runs follow each other ${PAUSE_BETWEEN_RUNS_MS / 1000} s apart (the schedule is every 5 minutes) until every teardown is done, at most ${MAX_RUNS}.`,
    "Kubernetes, EC2 and Lambda calls are counted by the simulator; SQL statements (BEGIN/COMMIT, run bookkeeping and outbox delivery included), CPU and peak RSS (sampled every 10 ms) inside the function's process.",
    `The ${functionNodeNote()}.`,
    '',
    `Teardowns done: ${cleaned} of ${count} after ${runs.length} runs (not done: ${count - cleaned}).`,
    '',
    '| run | teardowns done | outcome | wall time (budget) | CPU | peak RSS | peak V8 heap used (reserved) | peak external memory | simulator CPU | Kubernetes calls | EC2 calls (DescribeVolumes: calls / volumes) | Lambda calls | SQL statements |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...runs.map(
      (r, i) =>
        `| ${i + 1} | ${r.figures.result.summary.cleaned ?? 0} | ${r.figures.result.outcome} | ${(r.figures.ms / 1000).toFixed(2)} s (${budget} s) | ${(r.figures.cpuMs / 1000).toFixed(2)} s | ${r.figures.rssPeakMiB.toFixed(0)} MiB (${r.figures.rssBeforeMiB.toFixed(0)} before) | ${r.figures.heapPeakMiB.toFixed(0)} MiB (${probedMiB(r, 'heapTotalPeakMiB')}) | ${probedMiB(r, 'externalPeakMiB')} | ${(r.simCpuMs / 1000).toFixed(2)} s | ${r.sim.kubeCalls} | ${ec2Of(r)} (${r.sim.describeVolumes.calls} / ${r.sim.describeVolumes.distinctIds}) | ${r.sim.lambdaCalls} | ${statementsOf(r)} |`,
    ),
    `| **per reservation** | | | | ${per(runs, (r) => r.figures.cpuMs, count).toFixed(1)} ms | | | | | ${kubePer} | ${per(runs, ec2Of, count)} | ${per(runs, (r) => r.sim.lambdaCalls, count)} | ${sqlPer} |`,
    '',
    '| figure | measured | limit | within |',
    '|---|---|---|---|',
    `| Kubernetes calls per reservation | ${kubePer} | ≤ 6 | ${kubePer <= 6 ? 'yes' : '**no**'} |`,
    `| SQL statements per reservation | ${sqlPer} | ≤ 4 | ${sqlPer <= 4 ? 'yes' : '**no**'} |`,
    `| DescribeVolumes calls for the sweep (${count} volumes, all runs) | ${describeCalls} | Σ over runs ⌈volumes waiting in the run / ${VOLUME_IDS_PER_CALL}⌉ = ${runs.map((r) => `⌈${r.sim.describeVolumes.distinctIds}/${VOLUME_IDS_PER_CALL}⌉`).join(' + ')} = ${describeLimit} | ${describeCalls <= describeLimit ? 'yes' : '**no**'} |`,
    `| longest run (wall time on the system clock, waits included) | ${(longest / 1000).toFixed(2)} s | ${budget} s (RUN_BUDGET_SECONDS) | ${longest <= budget * 1000 ? 'yes' : '**no**'} |`,
    `| peak RSS of the function process, worst run | ${peak.toFixed(0)} MiB | ≤ ${MEMORY_LIMIT_MIB} MiB | ${peak <= MEMORY_LIMIT_MIB ? 'yes' : '**no**'} |`,
    '',
    `Why the DescribeVolumes limit is a sum over runs: a run reads the volumes waiting for detach in it (${perRunVolumes} here) ${VOLUME_IDS_PER_CALL} ids`,
    `a call, as a \`volume-id\` filter, and EC2 takes at most ${VOLUME_IDS_PER_CALL} filter values in one call (\`FilterLimitExceeded\`: "The maximum number`,
    `of filter values specified on a single call is ${VOLUME_IDS_PER_CALL}"). MaxResults paging splits the answer, not the ids asked for (and with`,
    'VolumeIds instead of a filter EC2 refuses MaxResults), and listing volumes by tag would read every disk of the fleet rather than what',
    `is due. So the fewest calls a run can make is ⌈its volumes / ${VOLUME_IDS_PER_CALL}⌉, and a sweep the run budget spreads over several runs pays`,
    'that in each.',
    '',
  ];
}

/** The sweep in its own processes; answers the section's lines for it. */
export async function sweepAsDeployed(count: number, fleet: number): Promise<string[]> {
  const snapshots = 100_000;
  const bundleDir = await mkdtemp(join(tmpdir(), 'devenv-lifecycle-bench-teardown-'));
  const sim: SimProcess = await startWorker('./teardown-sim.ts');
  const sink = await startSink();
  let fn: FunctionProcess | undefined;
  const db = await startBenchDatabase('teardown-sweep');
  try {
    fn = await startWorker(await bundleWorker('teardown-run', bundleDir), deployedNodeOptions('cleanup-pod'));
    const { url, token } = sim.ready as { url: string; token: string };
    const env: Record<string, string> = {
      DATABASE_URL: db.url,
      ...simProductEnv({ url, token }),
      AVAILABILITY_UPDATER_FUNCTION_NAME: UPDATER,
      EVENT_DELIVERY: 'knative',
      K_SINK: sinkUrl(sink),
      SECRETS_DIR: '/nonexistent',
      LOG_LEVEL: 'silent',
    };
    const active = Array.from({ length: fleet }, (_, i) => fleetMember(i));
    const ended = Array.from({ length: count }, (_, i) => endedMember(i));
    await Promise.all([
      sim.ask({ type: 'seed-fleet', reservations: active, snapshots }),
      seedRows(db, active, 'active'),
    ]);
    await Promise.all([sim.ask({ type: 'seed-ended', reservations: ended }), seedRows(db, ended, 'expired')]);
    await sim.ask({ type: 'add-function', name: UPDATER });
    const { runs, cleaned } = await runUntilDone(fn, sim, env, count);
    return report(runs, count, cleaned, fleet, snapshots, loadConfig(env).run.budgetSeconds);
  } finally {
    fn?.stop();
    sim.stop();
    sink.closeAllConnections();
    await new Promise<void>((resolve) => sink.close(() => resolve()));
    await db.stop();
    await rm(bundleDir, { recursive: true, force: true });
  }
}

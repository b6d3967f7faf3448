/*
 * oom-scan's scheduled scan as deployed, over a fleet with a pod for every active reservation
 * (10,000 in quick mode, 100,000 in full), 0.5% of them OOM-killed once. The simulator runs in a
 * process of its own (bench/oom-scan-sim.ts) and is reached over HTTP by the real Kubernetes
 * client, as an API server is; the function runs in another (bench/oom-scan-run.ts, a warm
 * instance) on the system clock, so its run budget and deadline bite as they do deployed;
 * PostgreSQL is the embedded server. The function process runs the function as deployed: bundled by
 * esbuild (ES modules, split so @kubernetes/client-node and the AWS SDK are read on first use, as
 * build/bundle.ts does) and started with plain node, so its memory is the function's, not the
 * TypeScript loader's (tsx alone held about 100 MiB before a run and another 120 MiB once the
 * Kubernetes client was loaded through it).
 *
 * The function process runs with the node flags of the manifests (NODE_OPTIONS in stack.yml, read
 * from there). The runs: a pass over the fleet at OOM_SCAN_PAGES_PER_RUN (the default) from a fresh
 * cursor, run after run until the pass completes, then the first run of the next pass (nothing
 * new); then one run that may read the whole fleet (pages per run = the fleet's pages), which shows
 * whether a full scan fits the budget, and the same in a process without the manifests' flags, for
 * what they change. CPU and peak RSS are the function process's; the simulator's CPU is shown
 * beside them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../shared/clock.js';
import { loadConfig } from '../shared/config.js';
import { startBenchDatabase } from './database.js';
import type { BenchDatabase } from './database.js';
import type { RunFigures, RunRequest } from './function-process.js';
import type { SimCommand, SimStats } from './oom-scan-sim.js';
import type { BenchContext } from './context.js';
import { bundleWorker, deployedNodeOptions, functionNodeNote, startWorker } from './workers.js';
import type { Worker } from './workers.js';
import { simProductEnv } from '../sim/product-env.js';
import { startSink, sinkUrl } from './sink.js';

const KILLED_EVERY = 200; // 0.5% of the pods
const NAMESPACE = 'gpu-dev';
const MEMORY_LIMIT_MIB = 128;

type SimProcess = Worker<SimCommand, { stats?: SimStats }>;
type FunctionProcess = Worker<Omit<RunRequest, 'id'>, { figures: RunFigures }>;

async function seedReservations(db: BenchDatabase, fleet: number): Promise<void> {
  await db.pool.query(
    `insert into reservations (reservation_id, user_id, status, created_at, launched_at, status_changed_at, expires_at, pod_name, namespace)
     select 'oom-' || lpad(i::text, 7, '0'), 'user-' || (i % 5000), 'active', $1::timestamptz - interval '3 hours',
            $1::timestamptz - interval '3 hours', $1::timestamptz - interval '3 hours', $1::timestamptz + interval '20 hours',
            'gpu-dev-oom-' || lpad(i::text, 7, '0'), $3
     from generate_series(0, $2 - 1) as i`,
    [systemClock.now(), fleet, NAMESPACE],
  );
  await db.pool.query('analyze reservations');
}

interface Figures extends RunFigures {
  label: string;
  simCpuMs: number;
  kubeCalls: number;
}

async function measureRun(
  label: string,
  fn: FunctionProcess,
  sim: SimProcess,
  env: Record<string, string>,
  maxItems: number,
): Promise<Figures> {
  const simBefore = (await sim.ask({ type: 'stats' })).stats!;
  const { figures } = await fn.ask({ env, maxItems });
  const simAfter = (await sim.ask({ type: 'stats' })).stats!;
  return {
    ...figures,
    label,
    simCpuMs: simAfter.cpuMs - simBefore.cpuMs,
    kubeCalls: simAfter.kubeCalls - simBefore.kubeCalls,
  };
}

function row(f: Figures): string {
  const s = f.result.summary;
  const pages = s.pages ?? 0;
  const stop = s.pass_completed
    ? 'pass completed'
    : s.stopped_at_page_budget
      ? 'page budget'
      : s.stopped_at_deadline
        ? 'deadline'
        : s.stopped_at_max_items
          ? 'max items'
          : '–';
  const perPage = pages > 0 ? `${(f.cpuMs / pages).toFixed(1)} ms` : '–';
  const podsPerSecond = f.ms > 0 ? Math.round(((s.pods_scanned ?? 0) * 1000) / f.ms).toLocaleString('en') : '–';
  return `| ${f.label} | ${pages} | ${s.pods_scanned ?? 0} | ${stop} | ${s.oom_detected ?? 0} | ${s.notices_sent ?? 0} | ${(f.ms / 1000).toFixed(1)} s | ${podsPerSecond} | ${(f.cpuMs / 1000).toFixed(1)} s | ${perPage} | ${f.rssPeakMiB.toFixed(0)} MiB (${f.rssBeforeMiB.toFixed(0)} before) | ${f.heapPeakMiB.toFixed(0)} MiB | ${(f.simCpuMs / 1000).toFixed(1)} s | ${f.kubeCalls} | ${f.result.outcome} |`;
}

export async function benchOomScan(context: BenchContext): Promise<string[]> {
  const fleet = context.quick ? 10_000 : 100_000;
  const kills = Math.ceil(fleet / KILLED_EVERY);
  const bundleDir = await mkdtemp(join(tmpdir(), 'devenv-lifecycle-bench-oom-scan-'));
  const sim: SimProcess = await startWorker('./oom-scan-sim.ts');
  const bundle = await bundleWorker('oom-scan-run', bundleDir);
  const flags = deployedNodeOptions('oom-scan');
  const fn: FunctionProcess = await startWorker(bundle, flags);
  const unlimited: FunctionProcess = await startWorker(bundle);
  const db = await startBenchDatabase('oom-scan');
  const sink = await startSink();
  const { url, token } = sim.ready as { url: string; token: string };
  // MAX_ITEMS caps new kills per run; raised so a run records every kill its pages show.
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    ...simProductEnv({ url, token }),
    EVENT_DELIVERY: 'knative',
    K_SINK: sinkUrl(sink),
    SECRETS_DIR: '/nonexistent',
    LOG_LEVEL: 'silent',
    MAX_ITEMS: String(Math.min(10_000, kills)),
  };
  try {
    const seedStarted = Date.now();
    await Promise.all([
      sim.ask({ type: 'seed', namespace: NAMESPACE, count: fleet, killedEvery: KILLED_EVERY }),
      seedReservations(db, fleet),
    ]);
    const seedSeconds = (Date.now() - seedStarted) / 1000;
    const simSeeded = (await sim.ask({ type: 'stats' })).stats!;
    const config = loadConfig(env);
    const { budgetSeconds } = config.run;
    const { oomScanPageSize: pageSize, oomScanPagesPerRun: pagesPerRun } = config.policy;
    const fleetPages = Math.ceil(fleet / pageSize);
    const runsPerPass = Math.ceil(fleetPages / pagesPerRun);
    // Runs until the pass completes (a run stopped by its deadline leaves more for the next), at
    // most four times the runs a pass needs when no deadline bites, then the next pass's first run.
    const runs: Figures[] = [];
    let pass = 1;
    for (let inPass = 1; runs.length < runsPerPass * 4; inPass++) {
      const figures = await measureRun(
        pass === 1 ? `pass 1, run ${inPass}` : 'pass 2, run 1 (every kill already recorded)',
        fn,
        sim,
        env,
        kills,
      );
      runs.push(figures);
      if (pass === 2 || figures.result.outcome !== 'succeeded') break;
      if (figures.result.summary.pass_completed) {
        pass = 2;
        inPass = 0;
      }
    }
    const passRuns = runs.filter((f) => f.label.startsWith('pass 1'));
    const passCompleted = passRuns.some((f) => f.result.summary.pass_completed);
    await db.pool.query('truncate oom_scan_cursor');
    runs.push(
      await measureRun(
        `whole fleet in one run (${fleetPages} pages per run)`,
        fn,
        sim,
        { ...env, OOM_SCAN_PAGES_PER_RUN: String(fleetPages) },
        kills,
      ),
    );
    await db.pool.query('truncate oom_scan_cursor');
    const withoutFlags = await measureRun(
      `whole fleet in one run, node without the manifests' flags`,
      unlimited,
      sim,
      { ...env, OOM_SCAN_PAGES_PER_RUN: String(fleetPages) },
      kills,
    );
    const paged = passRuns;
    const worst = (pick: (f: Figures) => number) => Math.max(...paged.map(pick));
    const perPage =
      paged.reduce((sum, f) => sum + f.cpuMs, 0) /
      Math.max(
        1,
        paged.reduce((sum, f) => sum + (f.result.summary.pages ?? 0), 0),
      );
    const full = runs.at(-1)!;
    runs.push(withoutFlags);
    const flagged = `node ${flags.join(' ') || '(no flags)'}`;
    return [
      `A fleet of ${fleet.toLocaleString('en')} active reservations in one namespace, each with its labelled pod; every ${KILLED_EVERY}th pod (${kills} pods) was OOM-killed once. A pod is ${(simSeeded.podBytes / 1024).toFixed(1)} KiB of JSON in a list answer (a last-applied-configuration annotation of about 2 KiB, as a pod created with kubectl apply carries; pods with managedFields are bigger still).`,
      `As deployed: the function process runs with the manifests' NODE_OPTIONS (\`${flags.join(' ')}\`, read from stack.yml); the simulator is its own process (seeded with the pods in ${seedSeconds.toFixed(0)} s; it then held ${simSeeded.rssMiB.toFixed(0)} MiB), reached over HTTP by the real client; the function is another process (a warm instance serving the runs in turn, bundled by esbuild as build/bundle.ts does and started with plain node), on the system clock (its deadline bites), against the embedded PostgreSQL.`,
      `The scan lists ${pageSize} pods per call (OOM_SCAN_PAGE_SIZE) and reads at most ${pagesPerRun} pages per run (OOM_SCAN_PAGES_PER_RUN) from a durable cursor: the fleet's ${fleetPages} pages take ${runsPerPass} runs per pass when no run stops at its deadline, more when runs do (each resumes where the last stopped).`,
      "Each page is decided and its new kills recorded before the next is read (the kernel's paged load, shared/runtime/paged.ts); each kill's reservation.oom event is delivered as deployed (Knative mode, to a local sink); up to 50 notices per run are written into their pods by exec after the pages.",
      "CPU is the function process's user + system time during the run; \"simulator CPU\" is the simulator process's over the same run. Pods/s is pods scanned per second of the run's wall time. Peak RSS is the function process's, sampled every 10 ms, with its level before the run.",
      `The ${functionNodeNote()}.`,
      `Limits compared with: the run budget (RUN_BUDGET_SECONDS = ${budgetSeconds} s; the scan stops reading pages at 80% of it) for wall time, ${MEMORY_LIMIT_MIB} MiB for peak RSS. Single runs, not medians.`,
      '',
      '| run | pages | pods scanned | ended by | kills recorded | notices written | wall | pods/s | CPU | CPU per page | peak RSS | peak V8 heap used | simulator CPU | Kubernetes calls | outcome |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
      ...runs.map(row),
      '',
      `Pass 1 ${passCompleted ? `completed in ${passRuns.length} runs` : `was not complete after ${passRuns.length} runs`}: worst wall ${(worst((f) => f.ms) / 1000).toFixed(1)} s against the ${budgetSeconds} s budget; worst peak RSS ${worst((f) => f.rssPeakMiB).toFixed(0)} MiB against ${MEMORY_LIMIT_MIB} MiB (${worst((f) => f.rssPeakMiB) <= MEMORY_LIMIT_MIB ? 'met' : 'not met'}); ${perPage.toFixed(1)} ms of function CPU per page of ${pageSize} pods.`,
      `Peak RSS over the runs as deployed (${flagged}): ${Math.max(...runs.slice(0, -1).map((f) => f.rssPeakMiB)).toFixed(0)} MiB against ${MEMORY_LIMIT_MIB} MiB; without the flags: ${withoutFlags.rssPeakMiB.toFixed(0)} MiB for ${(withoutFlags.cpuMs / 1000).toFixed(1)} s of CPU (as deployed: ${(full.cpuMs / 1000).toFixed(1)} s).`,
      `Whole fleet in one run: ${full.result.summary.pages ?? 0} of ${fleetPages} pages in ${(full.ms / 1000).toFixed(1)} s, ended by ${full.result.summary.pass_completed ? 'completing the pass' : full.result.summary.stopped_at_deadline ? 'the deadline' : 'something else'}.`,
    ];
  } finally {
    fn.stop();
    unlimited.stop();
    sim.stop();
    await db.stop();
    sink.closeAllConnections();
    await new Promise<void>((resolve) => sink.close(() => resolve()));
    await rm(bundleDir, { recursive: true, force: true });
  }
}

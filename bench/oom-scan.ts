/*
 * oom-scan's scheduled scan over a fleet with a pod for every active reservation (10,000 in quick
 * mode, 100,000 in full), 0.5% of them OOM-killed once: the first run records and tells every kill,
 * the next run sees the same kills (already recorded) and nothing new. Real handler, the real
 * Kubernetes client paging against the simulator, an embedded PostgreSQL.
 *
 * CPU and memory are the benchmark process's: the simulator serves the list pages from this same
 * process, so both include its work (and its copy of the fleet's pods, held before the run starts
 * and outside the figure: RSS is reported as the peak growth over the level before the run).
 */
import { oomScan } from '../functions/oom-scan/handler.js';
import type { Deps } from '../shared/deps.js';
import type { FunctionDefinition } from '../shared/runtime/invocation.js';
import type { BenchContext } from './sections.js';
import { fmt } from './stats.js';
import { measureRun, startFunctionBench } from './teardown.js';
import type { FunctionBench, MeasuredRun } from './teardown.js';

const KILLED_EVERY = 200; // 0.5% of the pods
const podName = (i: number) => `gpu-dev-oom-${String(i).padStart(7, '0')}`;
const reservationId = (i: number) => `oom-${String(i).padStart(7, '0')}`;

async function seedFleet(bench: FunctionBench, fleet: number): Promise<void> {
  await bench.db.pool.query(
    `insert into reservations (reservation_id, user_id, status, created_at, launched_at, status_changed_at, expires_at, pod_name, namespace)
     select 'oom-' || lpad(i::text, 7, '0'), 'user-' || (i % 5000), 'active', $1::timestamptz - interval '3 hours',
            $1::timestamptz - interval '3 hours', $1::timestamptz - interval '3 hours', $1::timestamptz + interval '2 hours',
            'gpu-dev-oom-' || lpad(i::text, 7, '0'), 'gpu-dev'
     from generate_series(0, $2 - 1) as i`,
    [bench.clock.now(), fleet],
  );
  await bench.db.pool.query('analyze reservations');
  for (let i = 0; i < fleet; i++) {
    const pod = { name: podName(i), namespace: 'gpu-dev' };
    bench.sim.kube.addPod({ ...pod, labels: { 'reservation-id': reservationId(i) } });
    if (i % KILLED_EVERY === 0) bench.sim.kube.oomKill(pod, 'gpu-dev');
  }
}

interface ScanFigures {
  run: MeasuredRun;
  cpuMs: number;
  rssGrowthMiB: number;
}

/** One scheduled scan, with the process's CPU time and its RSS sampled every 10 ms. */
async function measureScan(bench: FunctionBench, deps: Deps, maxItems: number): Promise<ScanFigures> {
  global.gc?.();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 10);
  const cpuBefore = process.cpuUsage();
  try {
    const run = await measureRun(bench, oomScan as unknown as FunctionDefinition<never, Deps>, deps, { maxItems });
    const cpu = process.cpuUsage(cpuBefore);
    peak = Math.max(peak, process.memoryUsage().rss);
    return { run, cpuMs: (cpu.user + cpu.system) / 1000, rssGrowthMiB: (peak - baseline) / 2 ** 20 };
  } finally {
    clearInterval(sampler);
  }
}

function row(label: string, fleet: number, { run, cpuMs, rssGrowthMiB }: ScanFigures): string {
  const s = run.result.summary;
  return `| ${fleet.toLocaleString('en')} | ${label} | ${s.pages ?? '–'} | ${s.pods_scanned ?? '–'} | ${s.oom_detected ?? 0} | ${s.notices_sent ?? 0} | ${fmt(run.ms)} | ${fmt(cpuMs)} | ${rssGrowthMiB.toFixed(0)} MiB | ${run.statements} | ${run.kubeCalls} | ${run.result.outcome} |`;
}

export async function benchOomScan(context: BenchContext): Promise<string[]> {
  const fleet = context.quick ? 10_000 : 100_000;
  const bench = await startFunctionBench('oom-scan');
  try {
    await seedFleet(bench, fleet);
    const kills = Math.ceil(fleet / KILLED_EVERY);
    // MAX_ITEMS caps new kills per run; raised so the first run records every kill the fleet shows.
    const deps = bench.deps({ MAX_ITEMS: String(Math.min(10_000, kills)) });
    const first = await measureScan(bench, deps, kills);
    bench.clock.advanceSeconds(60);
    const next = await measureScan(bench, deps, kills);
    const budget = deps.config.run.budgetSeconds;
    return [
      `A fleet of ${fleet.toLocaleString('en')} active reservations, each with its labelled pod in the simulator; every ${KILLED_EVERY}th pod (${kills} pods) was OOM-killed once.`,
      `The scan lists ${deps.config.policy.oomScanPageSize} pods per call (OOM_SCAN_PAGE_SIZE) and records each page's new kills before reading the next; each kill's notice is written into its pod by exec after the scan.`,
      '"first" records and tells every kill; "next" is a minute later: the same kills, already recorded, nothing new.',
      'CPU is the benchmark process\'s user + system time during the run, which includes the in-process simulator serving the list pages and the execs;',
      'RSS is the peak growth of the process over its level before the run (the simulator\'s copy of the fleet is held before and excluded), sampled every 10 ms.',
      `Limits compared with: the run budget (RUN_BUDGET_SECONDS = ${budget} s) for wall time, 128 MiB for memory. Single runs, not medians.`,
      '',
      '| active (pods) | run | pages | pods scanned | kills recorded | notices written | wall | CPU | RSS growth | SQL statements | Kubernetes calls | outcome |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|',
      row('first', fleet, first),
      row('next', fleet, next),
      '',
      `Wall time within the ${budget} s budget: first ${(first.run.ms / 1000).toFixed(1)} s, next ${(next.run.ms / 1000).toFixed(1)} s.`,
    ];
  } finally {
    await bench.close();
  }
}

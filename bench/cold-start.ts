/*
 * Cold start of each bundled function as the node22 image runs it, against a real PostgreSQL and
 * the simulated cluster.
 * - Load CPU, paired: a new `node` process requires dist/openfaas/<fn>/handler.js (as the template
 *   does at start-up) and reports its CPU time; right before it, a new `node` process that loads
 *   nothing reports its own (the cost of `node -e 0`). Each pair gives a ratio; the figures are the
 *   median and the interquartile range over many pairs in one run. Limit: ×3.
 * - Hosted: process start to the first answered request and to the first scheduled run answered
 *   (a cron-connector tick), the CPU time until each (the first run reads the request path, which
 *   start-up leaves out), and peak RSS after that run, through the template port in test/deploy.
 * - What the bundle reads at start-up (handler.js and the chunks it requires) against all of it.
 */
import { simProductEnv } from '../sim/product-env.js';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { freePort } from '../local/free-port.js';
import { FUNCTION_NAMES } from '../shared/runtime/invocation.js';
import { startSim } from '../sim/server.js';
import { buildBundles, firstAnswer, hostBundle } from '../test/deploy/hosted-bundles.js';
import type { BundleResult } from '../build/bundle.js';
import { startBenchDatabase } from './database.js';
import type { BenchContext } from './context.js';
import { fmt, median } from './stats.js';

const LIMIT = 3;

interface Start {
  readyMs: number;
  readyCpuMs: number;
  firstRunMs: number;
  firstRunCpuMs: number;
  peakRssMiB: number;
}

/** CPU time (user + system) the process has used so far, from the scheduler's own count (ns). */
function cpuMs(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
}

/** The process's high-water mark of resident memory (Linux). */
function peakRssMiB(pid: number): number {
  const kib = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kib) / 1024;
}

const REPORT_CPU = 'const u=process.cpuUsage();process.stdout.write(String((u.user+u.system)/1000));process.exit(0)';

/** CPU ms of `node -e` that requires `file` first (or nothing), measured by the process itself. */
function loadCpuMs(env: Record<string, string>, file?: string): Promise<number> {
  const script = (file === undefined ? '' : `require(${JSON.stringify(file)});`) + REPORT_CPU;
  const child = spawn(process.execPath, ['-e', script], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return new Promise((resolve, reject) =>
    child.once('exit', (code) =>
      code === 0 ? resolve(Number(out)) : reject(new Error(`load of ${file} exited ${code}: ${err}`)),
    ),
  );
}

function quartiles(values: number[]): [number, number] {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1) + 0.5))]!;
  return [at(0.25), at(0.75)];
}

interface Paired {
  bundle: BundleResult;
  loads: number[];
  bases: number[];
  ratios: number[];
}

/** Bundles and baselines alternate, so both see the same load on the machine. */
async function pairedLoads(bundles: BundleResult[], env: Record<string, string>, pairs: number): Promise<Paired[]> {
  const results = bundles.map((bundle): Paired => ({ bundle, loads: [], bases: [], ratios: [] }));
  for (let round = 0; round < pairs; round++) {
    for (const result of results) {
      const base = await loadCpuMs(env);
      const load = await loadCpuMs(env, result.bundle.file);
      result.bases.push(base);
      result.loads.push(load);
      result.ratios.push(load / base);
    }
  }
  return results;
}

async function coldStart(host: string, bundle: BundleResult, env: Record<string, string>): Promise<Start> {
  const started = performance.now();
  const hosted = hostBundle(host, bundle, await freePort(), env);
  try {
    const readyMs = await firstAnswer(hosted, started);
    const readyCpuMs = cpuMs(hosted.process.pid!);
    const tick = await fetch(`${hosted.url}/`, {
      method: 'POST',
      headers: { 'x-connector': 'cron-connector', 'x-topic': 'cron-function' },
    });
    await tick.text();
    if (tick.status !== 200) throw new Error(`${bundle.name}: scheduled run answered ${tick.status}`);
    return {
      readyMs,
      readyCpuMs,
      firstRunMs: performance.now() - started,
      firstRunCpuMs: cpuMs(hosted.process.pid!),
      peakRssMiB: peakRssMiB(hosted.process.pid!),
    };
  } finally {
    await hosted.stop();
  }
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;
const range = ([low, high]: [number, number], format: (n: number) => string) => `${format(low)}–${format(high)}`;
const times = (ratio: number) => `×${ratio.toFixed(2)}`;

function loadRow({ bundle, loads, bases, ratios }: Paired): string {
  const ratio = median(ratios);
  return `| ${bundle.name} | ${mib(bundle.startBytes)} in ${bundle.startFiles.length} files | ${mib(bundle.bytes)} in ${bundle.files.length} | ${fmt(median(loads))} (${range(quartiles(loads), fmt)}) | ${fmt(median(bases))} (${range(quartiles(bases), fmt)}) | ${times(ratio)} (${range(quartiles(ratios), times)}) | ${ratio <= LIMIT ? 'yes' : 'no'} |`;
}

export async function benchColdStart(context: BenchContext): Promise<string[]> {
  const [built, db, sim] = await Promise.all([
    buildBundles(FUNCTION_NAMES),
    startBenchDatabase('cold-start'),
    startSim(),
  ]);
  const env = {
    DATABASE_URL: db.url,
    ...simProductEnv(sim),
    EVENT_DELIVERY: 'none',
    LOG_LEVEL: 'warn',
    SECRETS_DIR: '/nonexistent',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  // A pair costs well under a second of CPU; hosted starts cost about a second each.
  const pairs = context.quick ? 9 : 25;
  const rounds = context.quick ? 2 : context.rounds;
  const load = loadavg()[0]!.toFixed(1);
  try {
    const paired = await pairedLoads(built.bundles, env, pairs);
    const hostedRows: string[] = [];
    for (const bundle of built.bundles) {
      const starts: Start[] = [];
      for (let round = 0; round < rounds; round++) starts.push(await coldStart(built.host, bundle, env));
      const of = (pick: (s: Start) => number) => median(starts.map(pick));
      hostedRows.push(
        `| ${bundle.name} | ${fmt(of((s) => s.readyMs))} | ${fmt(of((s) => s.readyCpuMs))} | ${fmt(of((s) => s.firstRunMs))} | ${fmt(of((s) => s.firstRunCpuMs))} | ${of((s) => s.peakRssMiB).toFixed(0)} MiB | ${starts.length} |`,
      );
    }
    return [
      'Each function bundled by `npm run build` (minified; handler.js and its chunks), loaded by a new `node`',
      `process the way the node22 template loads it; Node ${process.version} here, node:22-alpine in the image. ${cpus().length} cores,`,
      `load average ${load} at the start (wall times grow with it; CPU times less, and the ratio is taken pair by pair).`,
      'At start-up a bundle reads its settings, logger, metrics and health answers; the function, the run kernel, pg',
      'and CloudEvents are a chunk read on the first request, the AWS SDK and @kubernetes/client-node chunks on the first',
      'call that needs them. The metafile of each build says which sources are in the files read at start-up',
      '(test/deploy/bundles.test.ts checks it).',
      '',
      `**Load CPU, paired** (${pairs} pairs per function, alternated): CPU time of a process that requires handler.js,`,
      'against a process that loads nothing (`node -e 0`) started just before it. Median (interquartile range). Limit: ×3.',
      '',
      '| function | read at start-up | whole bundle | load CPU | `node -e 0` | ratio | ≤ ×3 |',
      '|---|---|---|---|---|---|---|',
      ...paired.map(loadRow),
      '',
      `**Hosted** (${rounds} starts per function): process start to the first answer (a health check) and its CPU time, to the first`,
      'scheduled run answered (which reads the request path first) and the CPU time until then, and peak RSS after it.',
      '',
      '| function | → first answer | its CPU time | → first scheduled run answered | its CPU time | peak RSS | runs |',
      '|---|---|---|---|---|---|---|',
      ...hostedRows,
    ];
  } finally {
    await Promise.all([built.remove(), db.stop(), sim.close()]);
  }
}

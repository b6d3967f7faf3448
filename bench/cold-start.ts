/*
 * Cold start of each bundled function as the node22 image runs it: a new process that requires
 * dist/openfaas/<fn>/handler.js at start-up (the template port in test/deploy), against a real
 * PostgreSQL and the simulated cluster. Per function: bundle size, process start to the first
 * answered request, process start to the first scheduled run answered (a cron-connector tick),
 * and peak RSS after that run. Targets on this machine: first answer < 300 ms, peak RSS < 100 MB.
 */
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { freePort } from '../local/free-port.js';
import { startSim } from '../sim/server.js';
import { buildBundles, firstAnswer, hostBundle } from '../test/deploy/hosted-bundles.js';
import type { BundleResult } from '../build/bundle.js';
import { startBenchDatabase } from './database.js';
import type { BenchContext } from './sections.js';
import { fmt, median } from './stats.js';

interface Start { readyMs: number; readyCpuMs: number; firstRunMs: number; peakRssMiB: number }

/** CPU time (user + system) the process has used so far: unlike wall time, other load does not inflate it. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in USER_HZ (100)
}

/** The process's high-water mark of resident memory (Linux). */
function peakRssMiB(pid: number): number {
  const kib = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kib) / 1024;
}

async function coldStart(host: string, bundle: BundleResult, env: Record<string, string>): Promise<Start> {
  const started = performance.now();
  const hosted = hostBundle(host, bundle, await freePort(), env);
  try {
    const readyMs = await firstAnswer(hosted, started);
    const readyCpuMs = cpuMs(hosted.process.pid!);
    const tick = await fetch(`${hosted.url}/`, { method: 'POST', headers: { 'x-connector': 'cron-connector', 'x-topic': 'cron-function' } });
    await tick.text();
    if (tick.status !== 200) throw new Error(`${bundle.name}: scheduled run answered ${tick.status}`);
    return { readyMs, readyCpuMs, firstRunMs: performance.now() - started, peakRssMiB: peakRssMiB(hosted.process.pid!) };
  } finally {
    await hosted.stop();
  }
}

export async function benchColdStart(context: BenchContext): Promise<string[]> {
  const [built, db, sim] = await Promise.all([buildBundles(), startBenchDatabase('cold-start'), startSim()]);
  const env = {
    DATABASE_URL: db.url, KUBE_API_SERVER: sim.url, KUBE_TOKEN: sim.token, AWS_ENDPOINT_URL: sim.url, AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench', EVENT_DELIVERY: 'none', LOG_LEVEL: 'warn', SECRETS_DIR: '/nonexistent',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  // Each start costs about a second of CPU: quick mode keeps two per function (under 20 s).
  const rounds = context.quick ? 2 : context.rounds;
  try {
    const rows: string[] = [];
    for (const bundle of built.bundles.filter((b) => b.name !== 'pod-watch')) {
      const starts: Start[] = [];
      for (let round = 0; round < rounds; round++) starts.push(await coldStart(built.host, bundle, env));
      const ready = median(starts.map((s) => s.readyMs));
      const rss = median(starts.map((s) => s.peakRssMiB));
      const cpu = median(starts.map((s) => s.readyCpuMs));
      rows.push(`| ${bundle.name} | ${(bundle.bytes / 2 ** 20).toFixed(2)} MiB | ${fmt(ready)} | ${fmt(cpu)} | ${fmt(median(starts.map((s) => s.firstRunMs)))} | ${rss.toFixed(0)} MiB | ${starts.length} | ${ready < 300 ? 'yes' : 'no'} / ${rss < 100 ? 'yes' : 'no'} |`);
    }
    return [
      'Each function bundled by `npm run build` (minified, one file), started as a new `node` process that',
      `requires it the way the node22 template does; Node ${process.version} here, node:22-alpine in the image. Load average`,
      `at the start: ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores (wall times grow with it; the CPU time to the first answer does not).`,
      'warn, expire, oom-scan and ending-watchdog are bundled without the AWS SDK (build/without-aws.ts).',
      '',
      '| function | bundle | process start → first answer | its CPU time | → first scheduled run answered | peak RSS | runs | < 300 ms / < 100 MB |',
      '|---|---|---|---|---|---|---|---|',
      ...rows,
    ];
  } finally {
    await Promise.all([built.remove(), db.stop(), sim.close()]);
  }
}

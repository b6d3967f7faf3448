/*
 * A function in a benchmark process of its own, as a deployed function is (a warm instance: one
 * process serves the runs one after another, bundled and started with plain node): it loads only
 * the function, its clients and its configuration, so its CPU and peak RSS are the function's.
 * Driven over IPC by the benchmark (bench/oom-scan.ts, bench/snapshot-sync.ts).
 */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { systemClock } from '../shared/clock.js';
import { loadConfig } from '../shared/config.js';
import { makeDeps } from '../shared/deps.js';
import type { Deps } from '../shared/deps.js';
import { createLogger } from '../shared/log.js';
import type { BaseOptions, FunctionDefinition, RunResult } from '../shared/runtime/invocation.js';

export interface RunRequest {
  id: number;
  env: Record<string, string>;
  maxItems: number;
  /** Which function runs, for a process serving one of several (serveNamedRuns). */
  fn?: string;
}

export interface RunFigures {
  result: RunResult;
  ms: number;
  cpuMs: number;
  rssBeforeMiB: number;
  rssPeakMiB: number;
  /** The V8 heap in use at its sampled peak: what the function's objects take, apart from code and buffers. */
  heapPeakMiB: number;
  /** What the process's probe measured over the run, when it has one (e.g. SQL statements). */
  probe?: Record<string, unknown>;
}

/** Measures taken inside the function process around each run (started just before, read just after). */
export interface RunProbe {
  start(): void;
  stop(): Record<string, unknown>;
}

const silent = createLogger({
  level: 'silent',
  hashSalt: 'bench',
  destination: new Writable({ write: (_c, _e, done) => done() }),
});
const instances = new Map<string, Deps>();

/** One deps per configuration, kept across runs as a warm function instance keeps its pool. */
function depsFor(env: Record<string, string>): Deps {
  const key = JSON.stringify(env);
  let deps = instances.get(key);
  if (!deps) {
    deps = makeDeps(loadConfig(env), { clock: systemClock, log: silent });
    instances.set(key, deps);
  }
  return deps;
}

async function run<O extends BaseOptions>(
  fn: FunctionDefinition<O, never>,
  request: RunRequest,
  probe?: RunProbe,
): Promise<RunFigures> {
  const deps = depsFor(request.env);
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  let heapPeak = process.memoryUsage().heapUsed;
  const sampler = setInterval(() => {
    const usage = process.memoryUsage();
    peak = Math.max(peak, usage.rss);
    heapPeak = Math.max(heapPeak, usage.heapUsed);
  }, 10);
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  probe?.start();
  try {
    const options = fn.optionsSchema.parse({ maxItems: request.maxItems });
    const result = await fn.handle(
      { kind: 'schedule', source: 'cron-connector', callId: randomUUID(), options },
      deps as never,
    );
    const cpu = process.cpuUsage(cpuBefore);
    const probed = probe?.stop();
    peak = Math.max(peak, process.memoryUsage().rss);
    return {
      result,
      ms: Number(process.hrtime.bigint() - started) / 1e6,
      cpuMs: (cpu.user + cpu.system) / 1000,
      rssBeforeMiB: rssBefore / 2 ** 20,
      rssPeakMiB: peak / 2 ** 20,
      heapPeakMiB: heapPeak / 2 ** 20,
      ...(probed ? { probe: probed } : {}),
    };
  } finally {
    clearInterval(sampler);
  }
}

type AnyFunction = FunctionDefinition<BaseOptions, never>;

/** Serves the parent's run requests over IPC until it disconnects. */
export function serveRuns<O extends BaseOptions>(fn: FunctionDefinition<O, never>, probe?: RunProbe): void {
  serve(async () => fn as unknown as AnyFunction, probe);
}

/**
 * Serves runs of the function each request names, imported on its first request: a bundle split
 * at those imports loads only that function's code, so a process that serves one of them measures
 * what that function's deployment loads.
 */
export function serveNamedRuns(loaders: Record<string, () => Promise<AnyFunction>>, probe?: RunProbe): void {
  serve((name) => {
    const load = name === undefined ? undefined : loaders[name];
    if (!load) throw new Error(`no function "${name}" here; known: ${Object.keys(loaders).join(', ')}`);
    return load();
  }, probe);
}

function serve(functionFor: (name: string | undefined) => Promise<AnyFunction>, probe?: RunProbe): void {
  if (!process.send) return;
  process.on('message', (request: RunRequest) => {
    Promise.resolve()
      .then(() => functionFor(request.fn))
      .then((fn) => run(fn, request, probe))
      .then(
        (figures) => process.send!({ id: request.id, figures }),
        (err: unknown) =>
          process.send!({ id: request.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
      );
  });
  process.once('disconnect', () => {
    void Promise.all([...instances.values()].map((deps) => deps.close())).then(() => process.exit(0));
  });
  process.send({ ready: true });
}

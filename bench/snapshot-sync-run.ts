/*
 * snapshot-sync for its fleet benchmark, in a process of its own as a deployed function is (a warm
 * instance: one process serves the runs one after another, bundled and started with plain node):
 * it loads only the function, its clients and its configuration, so its CPU and peak RSS are the
 * function's. Driven over IPC by bench/snapshot-sync.ts.
 */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { snapshotSync } from '../functions/snapshot-sync/handler.js';
import { systemClock } from '../shared/clock.js';
import { loadConfig } from '../shared/config.js';
import { makeDeps } from '../shared/deps.js';
import type { Deps } from '../shared/deps.js';
import { createLogger } from '../shared/log.js';
import type { RunResult } from '../shared/runtime/invocation.js';

export interface SyncRunRequest {
  id: number;
  env: Record<string, string>;
  maxItems: number;
}

export interface SyncRunFigures {
  result: RunResult;
  ms: number;
  cpuMs: number;
  rssBeforeMiB: number;
  rssPeakMiB: number;
  heapPeakMiB: number;
}

const silent = createLogger({
  level: 'silent',
  hashSalt: 'bench',
  destination: new Writable({ write: (_c, _e, done) => done() }),
});
let instance: { key: string; deps: Deps } | undefined;

/** One deps kept across runs, as a warm function instance keeps its pool. */
function depsFor(env: Record<string, string>): Deps {
  const key = JSON.stringify(env);
  if (instance?.key !== key) instance = { key, deps: makeDeps(loadConfig(env), { clock: systemClock, log: silent }) };
  return instance.deps;
}

async function run(request: SyncRunRequest): Promise<SyncRunFigures> {
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
  try {
    const options = snapshotSync.optionsSchema.parse({ maxItems: request.maxItems });
    const result = await snapshotSync.handle(
      { kind: 'schedule', source: 'cron-connector', callId: randomUUID(), options },
      deps,
    );
    const cpu = process.cpuUsage(cpuBefore);
    peak = Math.max(peak, process.memoryUsage().rss);
    return {
      result,
      ms: Number(process.hrtime.bigint() - started) / 1e6,
      cpuMs: (cpu.user + cpu.system) / 1000,
      rssBeforeMiB: rssBefore / 2 ** 20,
      rssPeakMiB: peak / 2 ** 20,
      heapPeakMiB: heapPeak / 2 ** 20,
    };
  } finally {
    clearInterval(sampler);
  }
}

if (process.send) {
  process.on('message', (request: SyncRunRequest) => {
    run(request).then(
      (figures) => process.send!({ id: request.id, figures }),
      (err: unknown) =>
        process.send!({ id: request.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
    );
  });
  process.once('disconnect', () => void (instance?.deps.close() ?? Promise.resolve()).then(() => process.exit(0)));
  process.send({ ready: true });
}

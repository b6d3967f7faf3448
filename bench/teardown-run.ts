/*
 * cleanup-pod in a benchmark process of its own (bench/function-process.ts), driven by
 * bench/teardown-sweep.ts. Its probe counts the SQL statements the function's pool clients send
 * during a run (BEGIN and COMMIT included), which only this process can see, and samples where the
 * memory is (the V8 heap reserved, memory outside it such as buffers) so the peak RSS can be read.
 */
import pg from 'pg';
import { cleanupPod } from '../functions/cleanup-pod/handler.js';
import { serveRuns } from './function-process.js';

let statements = 0;
const clientQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function countedQuery(this: pg.Client, ...args: unknown[]) {
  statements += 1;
  return (clientQuery as (...a: unknown[]) => unknown).apply(this, args);
} as typeof pg.Client.prototype.query;

let before = 0;
let sampler: NodeJS.Timeout | undefined;
const peaks = { heapTotal: 0, external: 0 };
const sample = () => {
  const usage = process.memoryUsage();
  peaks.heapTotal = Math.max(peaks.heapTotal, usage.heapTotal);
  peaks.external = Math.max(peaks.external, usage.external);
};

serveRuns(cleanupPod, {
  start: () => {
    before = statements;
    peaks.heapTotal = 0;
    peaks.external = 0;
    sample();
    sampler = setInterval(sample, 10);
  },
  stop: () => {
    clearInterval(sampler);
    sample();
    return {
      statements: statements - before,
      heapTotalPeakMiB: peaks.heapTotal / 2 ** 20,
      externalPeakMiB: peaks.external / 2 ** 20,
    };
  },
});

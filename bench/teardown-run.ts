/*
 * cleanup-pod in a benchmark process of its own (bench/function-process.ts), driven by
 * bench/teardown-sweep.ts. Its probe counts the SQL statements the function's pool clients send
 * during a run (BEGIN and COMMIT included), which only this process can see.
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
serveRuns(cleanupPod, {
  start: () => {
    before = statements;
  },
  stop: () => ({ statements: statements - before }),
});

/*
 * warn, expire or ending-watchdog in a benchmark process of its own (bench/function-process.ts),
 * driven by bench/fleet-memory.ts; one process serves one function, so it loads that function's
 * code only, as its deployment does. It counts its own SQL statements.
 */
import { serveNamedRuns } from './function-process.js';
import { countStatements, statementProbe } from './warn-expire-measure.js';

countStatements();
serveNamedRuns(
  {
    warn: async () => (await import('../functions/warn/handler.js')).warn as never,
    expire: async () => (await import('../functions/expire/handler.js')).expire as never,
    'ending-watchdog': async () => (await import('../functions/ending-watchdog/handler.js')).endingWatchdog as never,
  },
  statementProbe(),
);

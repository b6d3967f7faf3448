/* snapshot-sync in a benchmark process of its own (bench/function-process.ts), driven by bench/snapshot-sync.ts. */
import { snapshotSync } from '../functions/snapshot-sync/handler.js';
import { serveRuns } from './function-process.js';

serveRuns(snapshotSync);

/* oom-scan in a benchmark process of its own (bench/function-process.ts), driven by bench/oom-scan.ts. */
import { oomScan } from '../functions/oom-scan/handler.js';
import { serveRuns } from './function-process.js';

serveRuns(oomScan);

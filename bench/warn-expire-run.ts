/*
 * expire in a benchmark process of its own (bench/function-process.ts), driven by
 * bench/warn-expire-outbox.ts; it counts and times its own SQL statements, so the DB time is what
 * the function's event loop saw, with nothing else in it.
 */
import { expire } from '../functions/expire/handler.js';
import { serveRuns } from './function-process.js';
import { countStatements, statementProbe } from './warn-expire-measure.js';

countStatements();
serveRuns(expire, statementProbe());

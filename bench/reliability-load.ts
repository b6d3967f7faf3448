/*
 * `npx tsx bench/reliability-load.ts [--seconds 30] [--connections 16,64]`: the reliability
 * suite's load measure, longer than `npm test` runs it: the gateway with all six functions over a
 * migrated database and the simulator, autocannon over loopback, and the heap after gc before
 * and after each run. Prints a markdown table for RELIABILITY.md.
 */
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { ManualClock } from '../shared/clock.js';
import { loadConfig } from '../shared/config.js';
import { makeDeps } from '../shared/deps.js';
import { createLogger } from '../shared/log.js';
import { startSim } from '../sim/server.js';
import { planFleet, RES_NS, seedFleet } from '../test/reliability/fleet.js';
import { serveGateway } from '../test/reliability/gateway.js';
import { heapAfterGcMiB, loadMix, runLoad } from '../test/reliability/load.js';
import { startBenchDatabase } from './database.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '30' }, connections: { type: 'string', default: '16,64' } } });
const seconds = Number(values.seconds);
const connectionCounts = (values.connections ?? '16').split(',').map(Number);

const database = await startBenchDatabase('reliability');
const clock = new ManualClock('2026-06-01T12:00:00Z');
const sim = await startSim({ clock });
const log = createLogger({ level: 'silent', hashSalt: 's', destination: new Writable({ write: (_c, _e, done) => done() }) });
const config = loadConfig({
  DATABASE_URL: database.url, DB_POOL_MAX: '10', KUBE_API_SERVER: sim.url, KUBE_TOKEN: sim.token, AWS_ENDPOINT_URL: sim.url,
  AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'secret', AWS_REGION: 'us-east-1', EVENT_DELIVERY: 'none', SECRETS_DIR: '/nonexistent',
});
const deps = makeDeps(config, { clock, log });
await seedFleet(deps.pool, sim, planFleet(4, 10), clock.now());
const gateway = await serveGateway(deps, log);
const mix = loadMix(sim.kube.list('pods', RES_NS)[0]!, clock.now());

const lines = [
  '| connections | seconds | requests | requests/s | p50 ms | p99 ms | errors | non-2xx | heap after gc, MiB (before → after) | RSS MiB |',
  '|---|---|---|---|---|---|---|---|---|---|',
];
try {
  await runLoad(gateway.url, mix, { connections: 8, seconds: 2 });
  for (const connections of connectionCounts) {
    // The simulator runs in this process and keeps its latest 10,000 requests: empty that first.
    sim.requests.clear();
    const before = heapAfterGcMiB();
    const figures = await runLoad(gateway.url, mix, { connections, seconds });
    sim.requests.clear();
    const after = heapAfterGcMiB();
    const rss = process.memoryUsage().rss / 1_048_576;
    lines.push(`| ${connections} | ${seconds} | ${figures.requests} | ${figures.requestsPerSecond} | ${figures.latencyP50Ms} | ${figures.latencyP99Ms} | ${figures.errors + figures.timeouts} | ${figures.non2xx} | ${before.toFixed(1)} → ${after.toFixed(1)} | ${rss.toFixed(0)} |`);
    process.stderr.write(`reliability-load: ${connections} connections done\n`);
  }
} finally {
  await gateway.close();
  await deps.close();
  await sim.close();
  await database.stop();
}
process.stdout.write(`${lines.join('\n')}\n`);

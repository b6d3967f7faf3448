/*
 * `npx tsx bench/reliability-load.ts [--seconds 30] [--connections 16,64]`: the reliability
 * suite's load measure, longer than `npm test` runs it: the gateway with all six functions over a
 * migrated database and the simulator, autocannon over loopback, and the heap after gc before
 * and after each run. Prints a markdown table for RELIABILITY.md.
 */
import { parseArgs } from 'node:util';
import { planFleet, RES_NS, seedFleet } from '../test/reliability/fleet.js';
import { serveGateway } from '../test/reliability/gateway.js';
import { heapAfterGcMiB, loadMix, runLoad } from '../test/reliability/load.js';
import { silentLog, startWorld } from '../test/support/world.js';
import { startBenchDatabase } from './database.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '30' }, connections: { type: 'string', default: '16,64' } },
});
const seconds = Number(values.seconds);
const connectionCounts = (values.connections ?? '16').split(',').map(Number);

const database = await startBenchDatabase('reliability');
const world = await startWorld(database, {
  // The manual clock keeps its own time: clock sanity off. Request timeouts as deployed.
  env: { CLOCK_SKEW_MAX_SECONDS: '0', KUBE_REQUEST_TIMEOUT_MS: '10000', EXEC_TIMEOUT_SECONDS: '30' },
});
const { sim, deps, clock } = world;
await seedFleet(deps.pool, sim, planFleet(4, 10), clock.now());
const gateway = await serveGateway(deps, silentLog);
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
    lines.push(
      `| ${connections} | ${seconds} | ${figures.requests} | ${figures.requestsPerSecond} | ${figures.latencyP50Ms} | ${figures.latencyP99Ms} | ${figures.errors + figures.timeouts} | ${figures.non2xx} | ${before.toFixed(1)} → ${after.toFixed(1)} | ${rss.toFixed(0)} |`,
    );
    process.stderr.write(`reliability-load: ${connections} connections done\n`);
  }
} finally {
  await gateway.close();
  await world.close();
  await database.stop();
}
process.stdout.write(`${lines.join('\n')}\n`);

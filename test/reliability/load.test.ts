/*
 * Load: the gateway with all six functions under sustained concurrent invocations and event
 * bursts (autocannon over loopback): no errors, no non-2xx answers, every distinct event consumed
 * exactly once however often it was repeated (each is sent once before the load, which repeats them), and the heap after a longer run no larger than after
 * a short one (within a margin). Figures for a longer run: bench/reliability-load.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useFunctionHarness } from '../support/function-harness.js';
import { planFleet, RES_NS, seedFleet } from './fleet.js';
import { serveGateway } from './gateway.js';
import type { ServedGateway } from './gateway.js';
import { ENDED_DISTINCT, endedEvent, heapAfterGcMiB, loadMix, runLoad } from './load.js';
import { printSummary, settings } from './settings.js';
import { silentLog } from './world.js';

// No fault is injected here: a call, a lock wait or a wait for a pooled connection that outlasts its
// limit could only be the machine's load, and would answer 5xx for what this test does not judge
// (latency). Limits that only bound a hung run, and more connections than concurrent requests.
const h = useFunctionHarness(
  { KUBE_REQUEST_TIMEOUT_MS: '60000', AWS_REQUEST_TIMEOUT_MS: '60000', EXEC_TIMEOUT_SECONDS: '60' },
  { poolMax: 24, statementTimeoutMs: 120_000, lockTimeoutMs: 60_000 },
);
let gateway: ServedGateway;

beforeAll(async () => {
  const fleet = planFleet(1, 10);
  await seedFleet(h.deps.pool, h.sim, fleet, h.clock.now());
  gateway = await serveGateway(h.deps, silentLog);
});
afterAll(() => gateway?.close());

describe('load', () => {
  it('serves sustained invocations and event bursts without errors, losing no event and holding memory', async () => {
    const pod = h.sim.kube.list('pods', RES_NS)[0]!;
    const mix = loadMix(pod, h.clock.now());
    // Every distinct event goes once before the load, so whatever share the load happens to send,
    // all it adds are repeats: the inbox must hold each one exactly once afterwards.
    for (let n = 0; n < ENDED_DISTINCT; n++) {
      const request = endedEvent(n, ENDED_DISTINCT, h.clock.now());
      expect(
        (await fetch(`${gateway.url}${request.path}`, { method: 'POST', headers: request.headers, body: request.body }))
          .status,
      ).toBeLessThan(300);
    }
    // Lengths in requests, not seconds: on a loaded machine a second holds far fewer of them. The
    // heap is read once every answer is out, not while the last ones are still being worked on.
    const warmUp = await runLoad(gateway.url, mix, { connections: 8, requests: 100 });
    await gateway.idle();
    // The simulator keeps its latest 10,000 requests; emptied, it does not count as the gateway's memory.
    h.sim.requests.clear();
    const heapBefore = heapAfterGcMiB();
    const sustained = await runLoad(gateway.url, mix, { connections: 16, requests: settings.loadRequests });
    await gateway.idle();
    h.sim.requests.clear();
    const heapAfter = heapAfterGcMiB();
    const { rows } = await h.deps.pool.query<{ n: string; events: string }>(
      `select count(*) as n, count(distinct event_id) as events from event_inbox where consumer = 'cleanup-pod'`,
    );
    printSummary('load', {
      connections: 16,
      requests: warmUp.requests + sustained.requests,
      'requests/s': sustained.requestsPerSecond,
      'latency p50/p99 ms': `${sustained.latencyP50Ms}/${sustained.latencyP99Ms}`,
      'errors, timeouts, non-2xx': `${sustained.errors}, ${sustained.timeouts}, ${sustained.non2xx}`,
      'heap after gc MiB': `${heapBefore.toFixed(1)} -> ${heapAfter.toFixed(1)}`,
    });
    expect(gateway.failures).toEqual([]);
    for (const figures of [warmUp, sustained])
      expect([figures.errors, figures.timeouts, figures.non2xx]).toEqual([0, 0, 0]);
    expect(sustained.requests).toBeGreaterThanOrEqual(settings.loadRequests);
    expect(rows[0]).toEqual({ n: String(ENDED_DISTINCT), events: String(ENDED_DISTINCT) });
    expect(heapAfter - heapBefore).toBeLessThan(16);
  }, 600_000);
});

/*
 * Load on the gateway over loopback with autocannon: sustained concurrent invocations of every
 * function (dry runs of the sweeps, real oom-scan runs) mixed with bursts of events (ended
 * reservations to cleanup-pod, pod changes to expire and oom-scan), many of them repeats of an
 * event already delivered. Used by the test (short) and by bench/reliability-load.ts (long).
 */
import vm from 'node:vm';
import v8 from 'node:v8';
import autocannon from 'autocannon';
import { buildEvent, sourceFor, toBinaryHttp } from '../../shared/events/build.js';
import { EventTypes } from '../../shared/events/types.js';
import { stableUuid } from '../../shared/ids.js';

type Request = { method: 'POST'; path: string; headers: Record<string, string>; body: string };

const json = { 'content-type': 'application/json' };

/** An ended reservation's event; `serial` modulo `distinct` picks one of a few ids, so most are repeats. */
export function endedEvent(serial: number, distinct: number, at: Date): Request {
  const n = serial % distinct;
  const reservationId = stableUuid(`load-ended-${n}`);
  const event = buildEvent(
    EventTypes.reservationExpired,
    {
      reservationId,
      previousStatus: 'active',
      reason: 'load test',
      podName: null,
      namespace: null,
      expiresAt: null,
      endedAt: at.toISOString(),
    },
    { source: sourceFor('expire'), subject: reservationId, id: stableUuid(`load-ended-event-${n}`), time: at },
  );
  const message = toBinaryHttp(event);
  return { method: 'POST', path: '/function/cleanup-pod', headers: message.headers, body: message.body };
}

function podEvent(fn: 'expire' | 'oom-scan', pod: object, serial: number, distinct: number): Request {
  const headers = {
    'ce-specversion': '1.0',
    'ce-id': stableUuid(`load-pod-${serial % distinct}`),
    'ce-type': EventTypes.podUpdated,
    'ce-source': '/apis/v1/namespaces/gpu-dev/pods',
    ...json,
  };
  return { method: 'POST', path: `/function/${fn}`, headers, body: JSON.stringify(pod) };
}

/** The request mix one connection cycles through; event ids repeat so duplicates are part of the load. */
export const ENDED_DISTINCT = 40;

export function loadMix(pod: object, at: Date): () => Request[] {
  let serial = 0;
  return () => {
    serial += 1;
    return [
      { method: 'POST', path: '/function/expire', headers: json, body: '{"dryRun":true}' },
      endedEvent(serial, ENDED_DISTINCT, at),
      { method: 'POST', path: '/function/warn', headers: json, body: '{"dryRun":true}' },
      podEvent('oom-scan', pod, serial, 30),
      { method: 'POST', path: '/function/oom-scan', headers: json, body: '{}' },
      podEvent('expire', pod, serial, 30),
      { method: 'POST', path: '/function/snapshot-sync', headers: json, body: '{"dryRun":true}' },
      endedEvent(serial + 7, ENDED_DISTINCT, at),
      { method: 'POST', path: '/function/ending-watchdog', headers: json, body: '{"dryRun":true}' },
    ];
  };
}

export interface LoadFigures {
  requests: number;
  requestsPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  errors: number;
  timeouts: number;
  non2xx: number;
}

/** How long the load goes on: for `seconds`, or until `requests` have been answered (however long that takes on a loaded machine). */
export type LoadLength = { seconds: number } | { requests: number };

export async function runLoad(
  url: string,
  mix: () => Request[],
  options: { connections: number } & LoadLength,
): Promise<LoadFigures> {
  const requests = mix();
  const result = await autocannon({
    url,
    connections: options.connections,
    ...('requests' in options ? { amount: options.requests } : { duration: options.seconds }),
    // A request's own time limit, in seconds: latency is reported, not judged, so only a hung answer counts as a timeout.
    timeout: 120,
    // Each request slot takes the next request of a fresh mix, so ids move on and repeats stay bounded.
    requests: requests.map((_, index) => ({
      setupRequest: (request: autocannon.Request) => ({ ...request, ...mix()[index]! }),
    })),
  });
  return {
    requests: result.requests.total,
    requestsPerSecond: Math.round(result.requests.average),
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
  };
}

/** Heap in use after a full collection, in MiB: what a long-lived process would keep. */
export function heapAfterGcMiB(): number {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
  return process.memoryUsage().heapUsed / 1_048_576;
}

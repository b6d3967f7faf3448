/*
 * The simulator and the Knative sink for the expire-outbox benchmark, in a process of their own
 * as a cluster's API server and a Broker are, on the system clock. Driven over IPC by
 * bench/warn-expire-outbox.ts: it seeds the fleet's pods itself (over HTTP that would take longer
 * than the measurement) and reports its CPU, the Kubernetes calls it served and the events the
 * sink accepted, so the function's DB time is not inflated by their work in its event loop.
 */
import http from 'node:http';
import type pg from 'pg';
import type { AddressInfo } from 'node:net';
import { simProductEnv } from '../sim/product-env.js';
import { startSim } from '../sim/server.js';

export type ExpireSimCommand = { type: 'seed'; namespace: string; count: number } | { type: 'stats' };
type SimRequest = ExpireSimCommand & { id: number };

export interface ExpireSimStats {
  cpuMs: number;
  kubeCalls: number;
  eventsAccepted: number;
}

/**
 * A function's environment against this process as a deployment's against its cluster and Broker:
 * the simulator, event delivery on to the sink, no secrets, silent logs.
 */
export function functionEnv(
  ready: Record<string, unknown>,
  databaseUrl: string,
  maxItems: number,
): Record<string, string> {
  const { url, token, sinkUrl } = ready as { url: string; token: string; sinkUrl: string };
  return {
    DATABASE_URL: databaseUrl,
    ...simProductEnv({ url, token }),
    EVENT_DELIVERY: 'knative',
    K_SINK: sinkUrl,
    SECRETS_DIR: '/nonexistent',
    LOG_LEVEL: 'silent',
    MAX_ITEMS: String(maxItems),
  };
}

/**
 * The fleet in the database, active reservation i with pod gpu-dev-bench-i in gpu-dev (the pods
 * this process seeds): [0, overdue) are 10-20 minutes past their deadline, the next
 * `owingWarning` end in 25-30 minutes (their 30-minute warning is owed), the rest hours from now.
 */
export async function seedReservations(pool: pg.Pool, fleet: number, overdue: number, owingWarning = 0): Promise<void> {
  await pool.query(
    `insert into reservations (reservation_id, user_id, status, created_at, launched_at, status_changed_at, expires_at, pod_name, namespace)
     select 'bench-' || lpad(i::text, 7, '0'), 'user-' || (i % 5000), 'active', $1::timestamptz - interval '3 hours',
            $1::timestamptz - interval '3 hours', $1::timestamptz - interval '3 hours',
            case when i < $3 then $1::timestamptz - interval '10 minutes' - (i % 600) * interval '1 second'
                 when i < $3 + $4 then $1::timestamptz + interval '25 minutes' + (i % 300) * interval '1 second'
                 else $1::timestamptz + interval '2 hours' + (i % 10000) * interval '1 minute' end,
            'gpu-dev-bench-' || lpad(i::text, 7, '0'), 'gpu-dev'
     from generate_series(0, $2 - 1) as i`,
    [new Date(), fleet, overdue, owingWarning],
  );
}

/** The names bench/warn-expire-outbox.ts seeds in the database: reservation i and its pod. */
const reservationId = (i: number) => `bench-${String(i).padStart(7, '0')}`;

async function main(): Promise<void> {
  const sim = await startSim({});
  let eventsAccepted = 0;
  const sink = http.createServer((req, res) =>
    req.resume().on('end', () => {
      eventsAccepted += 1;
      res.writeHead(202).end();
    }),
  );
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  let kubeCalls = 0;
  // The simulator's own log keeps the latest 10,000 requests; a running count outlives that.
  const countCalls = () => {
    kubeCalls += sim.requests.all().filter((request) => /^\/(api|apis)\//.test(request.path)).length;
    sim.requests.clear();
  };
  const counter = setInterval(countCalls, 200);
  const answer = (message: object) => process.send!(message);
  process.on('message', (message: SimRequest) => {
    if (message.type === 'seed') {
      sim.kube.addNamespace(message.namespace);
      for (let i = 0; i < message.count; i++) {
        const name = reservationId(i);
        sim.kube.addPod({ name: `gpu-dev-${name}`, namespace: message.namespace, labels: { 'reservation-id': name } });
      }
      answer({ id: message.id });
      return;
    }
    countCalls();
    const cpu = process.cpuUsage();
    const stats: ExpireSimStats = { cpuMs: (cpu.user + cpu.system) / 1000, kubeCalls, eventsAccepted };
    answer({ id: message.id, stats });
  });
  process.once('disconnect', () => {
    clearInterval(counter);
    sink.close();
    void sim.close().then(() => process.exit(0));
  });
  answer({
    ready: { url: sim.url, token: sim.token, sinkUrl: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/` },
  });
}

if (process.send) await main();

/*
 * Event latency in the local stack (the gateway with all six functions, the simulated cluster, the
 * pod-watch source, a real PostgreSQL), under a steady paced load:
 * - reservation.expired staged in the outbox (as expire does, in its transaction) and delivered
 *   after commit → cleanup-pod has claimed it (its inbox row);
 * - a container OOM-killed in the simulator → the pod watch → the gateway → oom-scan has recorded
 *   the kill (its oom_kills row).
 * Times are wall-clock: the outbox's created_at (or the moment of the kill) to the consumer's row.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { startLocalStack } from '../local/stack.js';
import type { LocalStack } from '../local/stack.js';
import { buildEvent, sourceFor } from '../shared/events/build.js';
import { flushOutbox, stageEvents } from '../shared/events/outbox.js';
import { EventTypes } from '../shared/events/types.js';
import type { Sim } from '../sim/server.js';
import { startBenchDatabase } from './database.js';
import type { BenchDatabase } from './database.js';
import type { BenchContext } from './context.js';
import { fmt } from './stats.js';

const EXPIRED_PER_SECOND = 100;
// Every kill is two runs (oom-scan and expire, both consume pod updates) and a pod exec, all in one
// Node process with the simulator: a rate this stack sustains, so the figures are latency, not backlog.
const OOM_PER_SECOND = 20;
const OOM_PODS = 20;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/** Calls `send(i)` for i in 0..n-1 at `perSecond`, never bunching up to catch up. */
async function paced(n: number, perSecond: number, send: (i: number) => Promise<void>): Promise<void> {
  const started = Date.now();
  for (let i = 0; i < n; i++) {
    const due = started + (i * 1000) / perSecond;
    if (due > Date.now()) await sleep(due - Date.now());
    await send(i);
  }
}

async function waitForCount(
  db: BenchDatabase,
  sql: string,
  params: unknown[],
  n: number,
  timeoutMs: number,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const { rows } = await db.pool.query<{ n: number }>(sql, params);
    if (rows[0]!.n >= n) return;
    await sleep(50);
  }
}

async function expiredToCleanup(stack: LocalStack, db: BenchDatabase, n: number): Promise<number[]> {
  const ids: string[] = [];
  const publish = { mode: 'openfaas' as const, gatewayUrl: stack.url };
  await paced(n, EXPIRED_PER_SECOND, async (i) => {
    const reservationId = `bench-exp-${i}`;
    const now = new Date();
    const event = buildEvent(
      EventTypes.reservationExpired,
      {
        reservationId,
        previousStatus: 'active',
        reason: 'benchmark',
        podName: null,
        namespace: null,
        expiresAt: null,
        endedAt: now.toISOString(),
      },
      { source: sourceFor('expire'), subject: reservationId, time: now },
    );
    ids.push(event.id);
    await stageEvents(db.pool, [event], publish, now);
    await flushOutbox({
      db: db.pool,
      publish,
      now: () => new Date(),
      owner: 'bench',
      limit: 10,
      timeoutMs: 5_000,
      concurrency: 1,
      eventIds: [event.id],
    });
  });
  const consumed = `select count(*)::int as n from event_inbox where consumer = 'cleanup-pod' and event_id = any($1::text[])`;
  await waitForCount(db, consumed, [ids], n, 30_000);
  const { rows } = await db.pool.query<{ ms: number }>(
    `select extract(epoch from (i.processed_at - o.created_at)) * 1000 as ms
     from event_outbox o join event_inbox i on i.event_id = o.event_id::text and i.consumer = 'cleanup-pod' where o.event_id = any($1::uuid[])`,
    [ids],
  );
  return rows.map((row) => Number(row.ms));
}

async function oomToRecord(sim: Sim, db: BenchDatabase, n: number): Promise<number[]> {
  const pods: { namespace: string; name: string; uid: string; kills: number }[] = [];
  for (let p = 0; p < OOM_PODS; p++) {
    const id = `bench-oom-${p}-${randomUUID().slice(0, 8)}`;
    const pod = { namespace: 'gpu-dev', name: `gpu-dev-bench-${p}` };
    await db.pool.query(
      `insert into reservations (reservation_id, user_id, status, created_at, launched_at, expires_at, pod_name, namespace)
       values ($1, 'bench@example.com', 'active', now() - interval '2 hours', now() - interval '2 hours', now() + interval '1 day', $2, $3)`,
      [id, pod.name, pod.namespace],
    );
    pods.push({ ...pod, uid: sim.kube.addPod({ ...pod, labels: { 'reservation-id': id } }).uid, kills: 0 });
  }
  await sleep(500); // the pod watch sends the new pods first; kills are measured on a settled stack
  const killedAt = new Map<string, number>();
  await paced(n, OOM_PER_SECOND, async (i) => {
    const pod = pods[i % pods.length]!;
    pod.kills += 1;
    killedAt.set(`${pod.uid}/${pod.kills}`, Date.now());
    sim.kube.oomKill(pod, 'gpu-dev');
  });
  const uids = pods.map((pod) => pod.uid);
  await waitForCount(db, 'select count(*)::int as n from oom_kills where pod_uid = any($1::text[])', [uids], n, 30_000);
  const { rows } = await db.pool.query<{ pod_uid: string; restart_count: number; detected_at: Date }>(
    'select pod_uid, restart_count, detected_at from oom_kills where pod_uid = any($1::text[])',
    [uids],
  );
  return rows.flatMap((row) => {
    const at = killedAt.get(`${row.pod_uid}/${row.restart_count}`);
    return at === undefined ? [] : [row.detected_at.getTime() - at];
  });
}

function row(path: string, sent: number, perSecond: number, latencies: number[]): string {
  const arrived = latencies.length === sent ? `${sent}` : `${latencies.length} of ${sent}`;
  return `| ${path} | ${arrived} | ${perSecond}/s | ${fmt(percentile(latencies, 50))} | ${fmt(percentile(latencies, 99))} | ${fmt(Math.max(...latencies))} |`;
}

export async function benchEventLatency(context: BenchContext): Promise<string[]> {
  const n = context.quick ? 200 : 1_000;
  const db = await startBenchDatabase('event-latency');
  const stack = await startLocalStack({
    env: { DATABASE_URL: db.url, SECRETS_DIR: '/nonexistent', LOG_LEVEL: 'silent' },
    port: 0,
    demo: false,
    schedules: false,
    podWatch: true,
  });
  try {
    if (!stack.cluster.simulated) throw new Error('event-latency needs the simulated cluster');
    const expired = await expiredToCleanup(stack, db, n);
    const oom = await oomToRecord(stack.cluster.sim, db, n);
    return [
      `Wall-clock latency of one hop through the local stack (gateway, outbox, pod-watch source, simulator and all six functions in one Node process; PostgreSQL), ${n} events per path, sent at a steady rate.`,
      '',
      '| path | events arrived | rate | p50 | p99 | max |',
      '|---|---|---|---|---|---|',
      row('`reservation.expired` staged in the outbox → claimed by cleanup-pod', n, EXPIRED_PER_SECOND, expired),
      row('container OOM-killed → pod watch → oom-scan has recorded it', n, OOM_PER_SECOND, oom),
    ];
  } finally {
    await stack.stop();
    await db.stop();
  }
}

/*
 * The faults of one round at a given rate: Kubernetes 5xx, 429 with Retry-After, connection
 * resets, answers slower than the client's timeout, dropped watch streams; EC2 throttling
 * (RequestLimitExceeded), Lambda 429s, and EC2 actions that happen but whose answer is lost; the
 * event plane refusing publications. Every chance comes from a seeded generator, so a seed
 * replays the same run.
 */
import type pg from 'pg';
import type { Sim } from '../../sim/server.js';
import type { Bus } from './bus.js';

const KUBE = /^\/api\//;

/** The fault rate of round `round` of `rounds`: 5% at the first, 50% at the last. */
export function rateOf(round: number, rounds: number): number {
  return rounds <= 1 ? 0.5 : 0.05 + (0.45 * (round - 1)) / (rounds - 1);
}

export function installFaults(sim: Sim, bus: Bus, rate: number, timeoutMs: number, random: () => number): void {
  sim.faults.clear();
  sim.aws.clearFaults();
  // The snapshot is made but its answer is lost: a retry must find it by its token, not make another.
  if (random() < rate) sim.aws.addFault({ service: 'ec2', action: 'CreateSnapshot', fault: { kind: 'lose-response' } });
  if (random() < rate) sim.aws.addFault({ service: 'ec2', action: 'DeleteVolume', fault: { kind: 'lose-response' } });
  sim.faults.add({ path: KUBE, dropWatch: true, delayMs: 50, probability: rate });
  sim.faults.add({ path: KUBE, status: 503, probability: rate / 4 });
  sim.faults.add({ path: KUBE, status: 500, probability: rate / 6 });
  sim.faults.add({ path: KUBE, status: 429, retryAfterSeconds: 1, probability: rate / 6 });
  sim.faults.add({ path: KUBE, reset: true, probability: rate / 8 });
  sim.faults.add({ path: KUBE, delayMs: timeoutMs + 200, label: 'timeout', probability: rate / 20 });
  sim.faults.add({
    method: 'POST',
    path: '/',
    status: 503,
    awsErrorCode: 'RequestLimitExceeded',
    probability: rate / 2,
  });
  sim.faults.add({
    method: 'POST',
    path: /^\/2015-03-31\/functions\//,
    status: 429,
    label: 'lambda-429',
    probability: rate / 2,
  });
  bus.setRefuseRate(rate / 3);
}

/** The per-action EC2 faults that fired, by kind (route faults are counted by `sim.faults.fired()`). */
export function awsFaultsFired(sim: Sim): Record<string, number> {
  const fired: Record<string, number> = {};
  for (const call of sim.aws.calls())
    if (call.fault) fired[`ec2-${call.action}-${call.fault}`] = (fired[`ec2-${call.action}-${call.fault}`] ?? 0) + 1;
  return fired;
}

export function clearFaults(sim: Sim, bus: Bus): void {
  sim.faults.clear();
  sim.aws.clearFaults();
  bus.setRefuseRate(0);
}

/** Ends every session the functions hold on this database, as a failover or an admin would. */
export async function terminateFunctionSessions(admin: pg.Pool, database: string): Promise<number> {
  const { rows } = await admin.query<{ ok: boolean }>(
    `select pg_terminate_backend(pid) as ok from pg_stat_activity where datname = $1 and application_name = 'devenv-lifecycle' and pid <> pg_backend_pid()`,
    [database],
  );
  return rows.filter((row) => row.ok).length;
}

/*
 * A test file's local stack (local/stack.ts, what `npm start` runs) on the file's own database and
 * the simulated cluster, driven by hand: no schedules, no demo unless asked, the file's clock.
 * Started in beforeAll and stopped in afterAll; read its members inside tests and hooks. With it,
 * what the end-to-end chains do to it: a cron-connector tick, a reservation whose teardown has
 * something to do, and waiting for cleanup-pod's event run to ask the cluster to delete the pod.
 */
import { afterAll, beforeAll } from 'vitest';
import { startLocalStack } from '../../local/stack.js';
import type { LocalStack } from '../../local/stack.js';
import type { Clock } from '../../shared/clock.js';
import type { Sim } from '../../sim/server.js';
import type { TestDatabase } from './database.js';
import { eventually } from './eventually.js';
import { insertDisk, insertReservation } from './fixtures.js';
import type { DiskFixture } from './fixtures.js';

export interface LocalStackFixture {
  stack: LocalStack;
  /** The simulated cluster (Kubernetes API, EC2 and Lambda) the stack started. */
  sim: Sim;
  /** The stack's gateway. */
  url: string;
  /** A cron-connector tick of `fn` (cronTick). */
  tick(fn: string): Promise<TickAnswer>;
  /** The first row a query of the file's database answers. */
  one(sql: string, params?: unknown[]): Promise<Record<string, unknown> | undefined>;
  /** seedTeardownCandidate in this stack's database and cluster. */
  seedTeardownCandidate(candidate: TeardownCandidate): Promise<DiskFixture>;
  /** untilPodDeletionRequested on the file's database. */
  untilPodDeletionRequested(reservationId: string): Promise<void>;
}

export interface LocalStackFixtureOptions {
  /** Over the database, no secrets and silent logs; a function is called in beforeAll. */
  env?: Record<string, string> | (() => Record<string, string>);
  clock?: Clock;
  podWatch?: boolean;
  /** Seed the demo fleet as `npm start` does (local/demo-plan.ts), at the clock's time; off when absent. */
  demo?: boolean;
  /** Lambda functions the simulated cloud must have (the availability updater a teardown invokes). */
  lambdas?: string[];
}

export const AVAILABILITY_UPDATER = 'gpu-dev-availability-updater';

export function useLocalStack(db: TestDatabase, options: LocalStackFixtureOptions = {}): LocalStackFixture {
  const fixture = {
    tick: (fn) => cronTick(fixture.url, fn),
    one: (sql, params) => firstRow(db, sql, params),
    seedTeardownCandidate: (candidate) => seedTeardownCandidate(db, fixture.sim, candidate),
    untilPodDeletionRequested: (reservationId) => untilPodDeletionRequested(db, reservationId),
  } as LocalStackFixture;
  beforeAll(async () => {
    const env = typeof options.env === 'function' ? options.env() : options.env;
    const stack = await startLocalStack({
      env: { DATABASE_URL: db.url, SECRETS_DIR: '/nonexistent', LOG_LEVEL: 'silent', ...env },
      port: 0,
      demo: options.demo === true,
      schedules: false,
      ...(options.clock && { clock: options.clock }),
      ...(options.podWatch && { podWatch: true }),
    });
    Object.assign(fixture, { stack, url: stack.url });
    if (!stack.cluster.simulated) throw new Error('this test needs the simulated cluster');
    fixture.sim = stack.cluster.sim;
    for (const name of options.lambdas ?? []) fixture.sim.aws.addFunction(name);
  });
  afterAll(() => fixture.stack?.stop());
  return fixture;
}

export interface TickAnswer {
  outcome: string;
  summary: Record<string, number>;
}

/** A tick exactly as the cron-connector sends it: empty body, its two headers; answers the run's summary. */
export async function cronTick(url: string, fn: string): Promise<TickAnswer> {
  const answer = await fetch(`${url}/function/${fn}`, {
    method: 'POST',
    headers: { 'x-connector': 'cron-connector', 'x-topic': 'cron-function' },
  });
  if (answer.status !== 200) throw new Error(`the ${fn} tick answered ${answer.status}: ${await answer.text()}`);
  return (await answer.json()) as TickAnswer;
}

export interface TeardownCandidate {
  id: string;
  podName: string;
  volumeId: string;
  expiresAt: Date;
  /** The pod's labels besides `reservation-id`. */
  podLabels?: Record<string, string>;
}

/**
 * A reservation with everything its teardown acts on: its pod (mounting the volume), its disk in
 * use and the volume attached to the pod.
 */
export async function seedTeardownCandidate(db: TestDatabase, sim: Sim, c: TeardownCandidate): Promise<DiskFixture> {
  await insertReservation(db.pool, {
    reservation_id: c.id,
    expires_at: c.expiresAt,
    pod_name: c.podName,
    namespace: 'gpu-dev',
    disk_name: 'home',
    ebs_volume_id: c.volumeId,
  });
  const disk = await insertDisk(db.pool, {
    user_id: 'dev@example.com',
    disk_name: 'home',
    in_use: true,
    reservation_id: c.id,
    ebs_volume_id: c.volumeId,
  });
  sim.kube.addPod({
    name: c.podName,
    namespace: 'gpu-dev',
    labels: { 'reservation-id': c.id, ...c.podLabels },
    volumes: [{ name: 'home', awsElasticBlockStore: { volumeID: c.volumeId } }],
  });
  sim.aws.addVolume({
    volumeId: c.volumeId,
    sizeGiB: 100,
    attachedTo: c.podName,
    tags: { 'gpu-dev-user': 'dev@example.com', disk_name: 'home' },
  });
  return disk;
}

/** The first row a query answers. */
export async function firstRow(
  db: TestDatabase,
  sql: string,
  params: unknown[] = [],
): Promise<Record<string, unknown> | undefined> {
  return (await db.pool.query(sql, params)).rows[0] as Record<string, unknown> | undefined;
}

/**
 * Waits for cleanup-pod's event run to have started the teardown (step await_gone) and finished;
 * the event run may still hold the teardown's lease after its step commits, so a tick comes after.
 */
export async function untilPodDeletionRequested(db: TestDatabase, reservationId: string): Promise<void> {
  await eventually(
    async () =>
      (await firstRow(db, 'select step from cleanup_progress where reservation_id = $1', [reservationId]))?.step ===
      'await_gone',
  );
  await eventually(
    async () =>
      (
        await firstRow(
          db,
          `select outcome from function_runs where function = 'cleanup-pod' and trigger = 'event' and finished_at is not null`,
        )
      )?.outcome === 'accepted',
  );
}

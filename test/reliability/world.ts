/*
 * The world the reliability tests run in: one database, one simulated cluster and cloud, one
 * manual clock, and N independent replicas of all six functions (each its own Deps, pool and
 * clients, exactly as separate pods would have), driven round by round over HTTP requests through
 * the real entry (classification, options, runs table, outbox, inbox).
 */
import { randomUUID } from 'node:crypto';
import { allFunctions } from '../../functions/index.js';
import { ManualClock } from '../../shared/clock.js';
import { loadConfig } from '../../shared/config.js';
import { makeDeps } from '../../shared/deps.js';
import type { Deps } from '../../shared/deps.js';
import { EventTypes } from '../../shared/events/types.js';
import { createEndpoint } from '../../shared/runtime/endpoint.js';
import type { Endpoint } from '../../shared/runtime/endpoint.js';
import { seededRandom } from '../../sim/faults.js';
import { startSim } from '../../sim/server.js';
import type { Sim } from '../../sim/server.js';
import type { TestDatabase } from '../support/database.js';
import { functionEnv, silentLog, WORLD_START } from '../support/world.js';
import { startBus } from './bus.js';
import type { Bus } from './bus.js';
import { loadPodWatchConfig } from '../../pod-watch/config.js';
import { createPodWatchMetrics } from '../../pod-watch/metrics.js';
import { startPodWatchSource } from '../../pod-watch/source.js';
import type { PodWatchSource } from '../../pod-watch/source.js';
import { createKube } from '../../shared/kube/index.js';
import { blowsAt, planFleet, RES_NS, seedFleet } from './fleet.js';
import type { Fleet, PodChange } from './fleet.js';

export const START = WORLD_START;
export const UPDATER = 'gpu-dev-availability-updater';
const BODY_LIMIT = 262_144;

export { silentLog };

/** One instance of every function; each function has its own Deps and pool, as its own pod would. */
export interface Replica {
  deps: Deps[];
  endpoints: Map<string, Endpoint>;
}

export interface WorldOptions {
  replicas: number;
  seed: number;
  units: number;
  rounds: number;
  /** Extra configuration for every replica (timeouts for the fault runs). */
  env?: Record<string, string>;
  /** Also run the pod-watch source against the simulator, publishing pod changes to the bus. */
  podWatch?: boolean;
  /** A fleet of the test's own (generated ones): seeds it instead of the planned fleet, and deals its blows. */
  custom?: { seed(db: TestDatabase, sim: Sim, now: Date): Promise<void>; blows(round: number, sim: Sim): PodChange[] };
}

export interface World {
  sim: Sim;
  clock: ManualClock;
  db: TestDatabase;
  bus: Bus;
  fleet: Fleet;
  replicas: Replica[];
  random: () => number;
  /** HTTP status of every function answer, by status. */
  answers: Map<number, number>;
  /**
   * One round: the fleet's blows, the clock 90 s on, every function of every replica at once (or
   * `invoke` instead), then the queued events delivered.
   */
  round(
    index: number,
    options?: { duplicateRate?: number; during?: () => Promise<void>; invoke?: () => Promise<void> },
  ): Promise<void>;
  /** Clean rounds with a faster clock until every teardown, snapshot and event has settled. */
  settle(rounds?: number): Promise<void>;
  close(): Promise<void>;
}

/** Configuration every replica and every crash child shares. */
export function replicaEnv(
  db: TestDatabase,
  sim: Sim,
  busUrl: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return functionEnv(db.url, sim, {
    DB_POOL_MAX: '3',
    EVENT_DELIVERY: 'knative',
    K_SINK: `${busUrl}/`,
    AVAILABILITY_UPDATER_FUNCTION_NAME: UPDATER,
    AWS_REQUEST_TIMEOUT_MS: '3000',
    LOG_LEVEL: 'silent',
    // The replicas share a manual clock that keeps its own time: clock sanity off.
    CLOCK_SKEW_MAX_SECONDS: '0',
    ...extra,
  });
}

function makeReplica(env: Record<string, string>, clock: ManualClock): Replica {
  const replica: Replica = { deps: [], endpoints: new Map() };
  for (const fn of allFunctions) {
    const deps = makeDeps(loadConfig(env), { clock, log: silentLog });
    replica.deps.push(deps);
    replica.endpoints.set(
      fn.name,
      createEndpoint(fn, () => deps, { metrics: deps.metrics, logger: silentLog, bodyLimitBytes: BODY_LIMIT }),
    );
  }
  return replica;
}

/** A pod change as a Knative ApiServerSource (or our pod-watch source) sends it, to each consumer. */
export function podEventDeliveries(change: PodChange) {
  const type = change.type === 'delete' ? EventTypes.podDeleted : EventTypes.podUpdated;
  const body = Buffer.from(JSON.stringify(change.pod));
  const headers = {
    'ce-specversion': '1.0',
    'ce-id': randomUUID(),
    'ce-type': type,
    'ce-source': `/apis/v1/namespaces/${RES_NS}/pods`,
    'content-type': 'application/json',
  };
  return ['expire', 'oom-scan'].map((fn) => ({ fn, headers, body }));
}

/** A cron-connector tick or a manual `faas-cli invoke` (which single-flight does not hold back), half and half. */
function invocationRequest(random: () => number) {
  return random() < 0.5
    ? {
        method: 'POST',
        path: '/',
        headers: { 'x-connector': 'cron-connector', 'x-topic': 'cron-function' },
        rawBody: '',
      }
    : { method: 'POST', path: '/', headers: { 'content-type': 'application/json' }, rawBody: '{}' };
}

function startPodWatch(env: Record<string, string>, busUrl: string, clock: ManualClock): PodWatchSource {
  const config = loadPodWatchConfig({ ...env, OPENFAAS_GATEWAY_URL: busUrl, POD_WATCH_NAMESPACES: RES_NS });
  const deps = { kube: createKube(config.kube), clock, log: silentLog, metrics: createPodWatchMetrics() };
  return startPodWatchSource(deps, { ...config, retry: { ...config.retry, initialDelayMs: 20, maxDelayMs: 200 } });
}

export async function startWorld(db: TestDatabase, options: WorldOptions): Promise<World> {
  const clock = new ManualClock(START);
  const random = seededRandom(options.seed);
  const sim = await startSim({ clock, faultSeed: options.seed });
  sim.aws.addFunction(UPDATER);
  sim.aws.setSnapshotCompletionSeconds(120);
  const replicas: Replica[] = [];
  const bus = await startBus(() => replicas.map((r) => r.endpoints), random);
  const env = replicaEnv(db, sim, bus.url, options.env);
  for (let i = 0; i < options.replicas; i++) replicas.push(makeReplica(env, clock));
  const fleet = options.custom ? { reservations: [], labs: [] } : planFleet(options.units, options.rounds);
  await (options.custom ? options.custom.seed(db, sim, clock.now()) : seedFleet(db.pool, sim, fleet, clock.now()));
  const podWatch = options.podWatch ? startPodWatch(env, bus.url, clock) : undefined;
  const answers = new Map<number, number>();
  const invokeAll = async () => {
    const calls = replicas.flatMap((replica) =>
      [...replica.endpoints.values()].map((endpoint) => endpoint(invocationRequest(random))),
    );
    for (const answer of await Promise.all(calls)) answers.set(answer.status, (answers.get(answer.status) ?? 0) + 1);
  };
  const step = async (seconds: number, duplicateRate: number, during?: () => Promise<void>, invoke = invokeAll) => {
    clock.advanceSeconds(seconds);
    sim.kube.tick();
    await Promise.all([invoke(), during?.()]);
    await bus.flush(random, { duplicateRate });
  };
  return {
    sim,
    clock,
    db,
    bus,
    fleet,
    replicas,
    random,
    answers,
    round: async (index, { duplicateRate = 0.3, during, invoke } = {}) => {
      const changes = options.custom
        ? options.custom.blows(index, sim)
        : await blowsAt(fleet, index, sim, db.pool, clock.now());
      for (const change of changes) podEventDeliveries(change).forEach((d) => bus.push(d));
      await step(90, duplicateRate, during, invoke);
    },
    settle: async (rounds = 10) => {
      for (let i = 0; i < rounds; i++) await step(300, 0.3);
      for (let i = 0; i < 5 && bus.pending() > 0; i++) await bus.flush(random, { duplicateRate: 0 });
    },
    close: async () => {
      await podWatch?.stop(500);
      await Promise.all(replicas.flatMap((r) => r.deps.map((deps) => deps.close())));
      await bus.close();
      await sim.close();
    },
  };
}

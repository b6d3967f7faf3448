/*
 * The testkit's world: a database (a test file's copy of the migrated template, or a benchmark's),
 * the simulated cluster and cloud over HTTP, a manual clock, the configuration that points the
 * product at them, the real Deps built from it, and a way to invoke a function exactly as the
 * runtime does (schedule tick, manual call or event). Integration, e2e and reliability tests reach
 * it through useWorld() (use-world.ts); benchmarks call startWorld() with their own database.
 * Nothing here imports vitest.
 */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type pg from 'pg';
import { ManualClock } from '../../shared/clock.js';
import { loadConfig } from '../../shared/config.js';
import type { Config } from '../../shared/config.js';
import { makeDeps } from '../../shared/deps.js';
import type { Deps } from '../../shared/deps.js';
import type { ParsedEvent } from '../../shared/events/parse.js';
import { createLogger } from '../../shared/log.js';
import type { BaseOptions, FunctionDefinition, Invocation, RunResult } from '../../shared/runtime/invocation.js';
import { simProductEnv } from '../../sim/product-env.js';
import { startSim } from '../../sim/server.js';
import type { Sim, SimOptions } from '../../sim/server.js';
import { FIXTURE_NOW, insertDisk, insertLab, insertReservation } from './fixtures.js';
import type { DiskFixture, LabFixture, ReservationFixture } from './fixtures.js';

/** Where every world's clock starts: the fixtures' "now". */
export const WORLD_START = FIXTURE_NOW.toISOString();

export const silentLog = createLogger({
  level: 'silent',
  hashSalt: 's',
  destination: new Writable({ write: (_c, _e, done) => done() }),
});

export interface WorldDatabase {
  url: string;
  pool: pg.Pool;
}

/**
 * The environment a function is deployed with, pointed at this database and simulator: events
 * not delivered (a test that wants them sets EVENT_DELIVERY), request timeouts that bound a
 * failing test, no secrets directory, no clock sanity. `extra` overrides any of it.
 */
export function functionEnv(
  databaseUrl: string,
  sim: Pick<Sim, 'url' | 'token'>,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    ...simProductEnv(sim),
    EVENT_DELIVERY: 'none',
    KUBE_REQUEST_TIMEOUT_MS: '3000',
    EXEC_TIMEOUT_SECONDS: '5',
    SECRETS_DIR: '/nonexistent',
    // A world's manual clock keeps its own time on purpose: clock sanity off (its own tests turn it on).
    CLOCK_SKEW_MAX_SECONDS: '0',
    ...extra,
  };
}

export type Invoke = <O extends BaseOptions>(
  fn: FunctionDefinition<O, Deps>,
  options?: Partial<O>,
) => Promise<RunResult>;
export type InvokeEvent = <O extends BaseOptions>(
  fn: FunctionDefinition<O, Deps>,
  event: Omit<ParsedEvent, 'id'> & { id?: string },
) => Promise<RunResult>;

export interface Invokers {
  schedule: Invoke;
  manual: Invoke;
  event: InvokeEvent;
}

/** Invoke a function through its handler as the runtime does, after the same options parsing. */
export function invokers(deps: () => Deps): Invokers {
  const run = <O extends BaseOptions>(fn: FunctionDefinition<O, Deps>, invocation: Invocation<unknown>) =>
    fn.handle({ ...invocation, options: fn.optionsSchema.parse(invocation.options) } as Invocation<O>, deps());
  return {
    schedule: (fn, options = {}) =>
      run(fn, { kind: 'schedule', source: 'cron-connector', callId: randomUUID(), options }),
    manual: (fn, options = {}) => run(fn, { kind: 'manual', callId: randomUUID(), options }),
    event: (fn, event) =>
      run(fn, {
        kind: 'event',
        callId: randomUUID(),
        options: {},
        event: { id: randomUUID(), ...event } as ParsedEvent,
      }),
  };
}

export interface Builders {
  reservation(overrides?: Partial<ReservationFixture>): Promise<ReservationFixture>;
  /** A reservation and its pod, labelled as the configuration says the origin labels it. */
  reservationWithPod(overrides?: Partial<ReservationFixture>): Promise<ReservationFixture>;
  lab(overrides?: Partial<LabFixture>): Promise<LabFixture>;
  disk(overrides?: Partial<DiskFixture>): Promise<DiskFixture>;
  /** The pod of a reservation row in the simulator. */
  podOf(reservation: Pick<ReservationFixture, 'reservation_id' | 'pod_name' | 'namespace'>): void;
}

export function builders(pool: () => pg.Pool, sim: () => Sim, config: () => Config): Builders {
  const podOf: Builders['podOf'] = (r) => {
    if (!r.pod_name) throw new Error(`reservation ${r.reservation_id} has no pod name`);
    const labels = { [config().policy.reservationLabel]: r.reservation_id };
    sim().kube.addPod({ name: r.pod_name, namespace: r.namespace ?? config().policy.reservationNamespace, labels });
  };
  return {
    reservation: (overrides) =>
      insertReservation(pool(), { namespace: config().policy.reservationNamespace, ...overrides }),
    reservationWithPod: async (overrides) => {
      const row = await insertReservation(pool(), { namespace: config().policy.reservationNamespace, ...overrides });
      podOf(row);
      return row;
    },
    lab: (overrides) => insertLab(pool(), { namespace: config().policy.labNamespace, ...overrides }),
    disk: (overrides) => insertDisk(pool(), overrides),
    podOf,
  };
}

/** A real cluster has the namespaces the deployment names; the simulator starts with `default` only. */
export function addConfiguredNamespaces(sim: Sim, config: Config): void {
  for (const namespace of new Set([config.policy.reservationNamespace, config.policy.labNamespace])) {
    if (!sim.kube.list('namespaces').some((ns) => ns.metadata.name === namespace)) sim.kube.addNamespace(namespace);
  }
}

export interface World extends Invokers, Builders {
  db: WorldDatabase;
  sim: Sim;
  clock: ManualClock;
  config: Config;
  /** The environment `config` was parsed from; spread it into a child process's environment. */
  env: Record<string, string>;
  deps: Deps;
  /** Closes the Deps (not the caller's pool) and the simulator. */
  close(): Promise<void>;
}

export interface WorldOptions {
  /** Overrides of functionEnv(); a function is called once the simulator is up. */
  env?: Record<string, string> | ((sim: Sim) => Record<string, string>);
  clock?: ManualClock;
  sim?: Omit<SimOptions, 'clock'>;
}

export async function startWorld(db: WorldDatabase, options: WorldOptions = {}): Promise<World> {
  const clock = options.clock ?? new ManualClock(WORLD_START);
  const sim = await startSim({ ...options.sim, clock });
  const env = functionEnv(db.url, sim, typeof options.env === 'function' ? options.env(sim) : options.env);
  const config = loadConfig(env);
  const deps = makeDeps(config, { clock, log: silentLog, pool: db.pool });
  addConfiguredNamespaces(sim, config);
  return {
    db,
    sim,
    clock,
    config,
    env,
    deps,
    ...invokers(() => deps),
    ...builders(
      () => db.pool,
      () => sim,
      () => config,
    ),
    close: async () => {
      await deps.close();
      await sim.close();
    },
  };
}

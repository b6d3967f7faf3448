/*
 * Everything a function needs for an integration test: a real database (this file's copy), the
 * simulated cluster and AWS over HTTP, the real clients pointed at them, a manual clock, and a way
 * to invoke a function exactly as the runtime does (schedule tick, manual call or event).
 */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { loadConfig } from '../../shared/config.js';
import { makeDeps } from '../../shared/deps.js';
import type { Deps } from '../../shared/deps.js';
import type { ParsedEvent } from '../../shared/events/parse.js';
import { createLogger } from '../../shared/log.js';
import type { BaseOptions, FunctionDefinition, Invocation, RunResult } from '../../shared/runtime/invocation.js';
import { startSim } from '../../sim/server.js';
import type { Sim } from '../../sim/server.js';
import { useTestDatabase } from './database.js';

export interface FunctionHarness {
  deps: Deps;
  sim: Sim;
  clock: ManualClock;
  schedule<O extends BaseOptions>(fn: FunctionDefinition<O, Deps>, options?: Partial<O>): Promise<RunResult>;
  manual<O extends BaseOptions>(fn: FunctionDefinition<O, Deps>, options?: Partial<O>): Promise<RunResult>;
  event<O extends BaseOptions>(fn: FunctionDefinition<O, Deps>, event: Omit<ParsedEvent, 'id'> & { id?: string }): Promise<RunResult>;
}

export function useFunctionHarness(env: Record<string, string> | (() => Record<string, string>) = {}): FunctionHarness {
  const db = useTestDatabase();
  const clock = new ManualClock('2026-06-01T12:00:00Z');
  const harness = { clock } as FunctionHarness;
  beforeAll(async () => {
    harness.sim = await startSim({ clock });
    const config = loadConfig({
      DATABASE_URL: db.url, KUBE_API_SERVER: harness.sim.url, KUBE_TOKEN: harness.sim.token,
      AWS_ENDPOINT_URL: harness.sim.url, AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'secret', AWS_REGION: 'us-east-1',
      EVENT_DELIVERY: 'none', KUBE_REQUEST_TIMEOUT_MS: '3000', EXEC_TIMEOUT_SECONDS: '5', SECRETS_DIR: '/nonexistent',
      // Tests of a function's own rules end far more than 20% of their small fleets in one run; the
      // blast-radius breaker has its own tests (rails-breaker), which set its limits.
      BREAKER_MIN_ACTIONS: '100000', ...(typeof env === 'function' ? env() : env),
    });
    const log = createLogger({ level: 'silent', hashSalt: 's', destination: new Writable({ write: (_c, _e, done) => done() }) });
    harness.deps = makeDeps(config, { clock, log, pool: db.pool });
    // A real cluster has the namespaces the deployment names; the simulator starts with `default` only.
    for (const namespace of new Set([config.policy.reservationNamespace, config.policy.labNamespace])) {
      if (!harness.sim.kube.list('namespaces').some((ns) => ns.metadata.name === namespace)) harness.sim.kube.addNamespace(namespace);
    }
    const run = <O extends BaseOptions>(fn: FunctionDefinition<O, Deps>, invocation: Invocation<unknown>) =>
      fn.handle({ ...invocation, options: fn.optionsSchema.parse(invocation.options) } as Invocation<O>, harness.deps);
    harness.schedule = (fn, options = {}) => run(fn, { kind: 'schedule', source: 'cron-connector', callId: randomUUID(), options });
    harness.manual = (fn, options = {}) => run(fn, { kind: 'manual', callId: randomUUID(), options });
    harness.event = (fn, event) => run(fn, { kind: 'event', callId: randomUUID(), options: {}, event: { id: randomUUID(), ...event } as ParsedEvent });
  });
  afterAll(async () => {
    await harness.deps?.close();
    await harness.sim?.close();
  });
  return harness;
}

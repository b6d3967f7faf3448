/*
 * The composition root: every client and service a function needs, built once from the parsed
 * configuration and passed in (DESIGN.md habit 4). Tests build the same object with clients pointed
 * at the simulator and a real test database.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Ec2Api } from './aws/ec2.js';
import { lazyEc2Api, lazyLambdaApi } from './aws/lazy.js';
import type { LambdaApi } from './aws/lambda.js';
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import type { Config } from './config.js';
import { createPool } from './db/pool.js';
import type { PublishMode } from './events/outbox.js';
import { createKube } from './kube/index.js';
import type { Kube } from './kube/index.js';
import { createClusterResources, createPodReader } from './kube/ports.js';
import type { NamedResources } from './kube/labelled-resources.js';
import { createLogger } from './log.js';
import type { PodExec, PodReader } from './kube/pods.js';
import { createMetrics } from './runtime/metrics.js';
import type { Metrics } from './runtime/metrics.js';
import type { RunServices } from './runtime/run-scope.js';

export interface Deps {
  config: Config;
  kube: Kube;
  pods: PodReader;
  exec: PodExec;
  resources: NamedResources;
  pool: pg.Pool;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  ec2: Ec2Api;
  lambda: LambdaApi;
  run: RunServices;
  close(): Promise<void>;
}

export interface DepsOverrides {
  clock?: Clock;
  log?: Logger;
  metrics?: Metrics;
  pool?: pg.Pool;
}

export function makeDeps(config: Config, overrides: DepsOverrides = {}): Deps {
  const clock = overrides.clock ?? systemClock;
  const log = overrides.log ?? createLogger({ level: config.logLevel, hashSalt: config.logHashSalt });
  const metrics = overrides.metrics ?? createMetrics();
  const pool = overrides.pool ?? createPool(config.database);
  const awsOptions = {
    region: config.aws.region,
    endpoint: config.aws.endpoint,
    credentials: config.aws.credentials,
    requestTimeoutMs: config.aws.requestTimeoutMs,
  };
  const run: RunServices = {
    pool,
    clock,
    log,
    metrics,
    publish: publishMode(config),
    paused: config.run.paused,
    defaultMaxItems: config.run.maxItems,
    budgetSeconds: config.run.budgetSeconds,
    deliveryTimeoutMs: 5_000,
    concurrency: config.run.concurrency,
    eventMaxAttempts: config.events.maxAttempts,
    rails: config.rails,
  };
  const kube = createKube(config.kube);
  return {
    config,
    kube,
    pods: createPodReader(kube, { reservationLabel: config.policy.reservationLabel, clock, metrics }),
    exec: kube,
    resources: createClusterResources(kube),
    pool,
    clock,
    log,
    metrics,
    ec2: lazyEc2Api(awsOptions),
    lambda: lazyLambdaApi(awsOptions),
    run,
    close: async () => {
      if (!overrides.pool) await pool.end();
    },
  };
}

function publishMode(config: Config): PublishMode {
  const events = config.events;
  if (events.mode === 'knative' && events.sinkUrl) return { mode: 'knative', sinkUrl: events.sinkUrl };
  if (events.mode === 'openfaas') return { mode: 'openfaas', gatewayUrl: events.gatewayUrl };
  return { mode: 'none' };
}

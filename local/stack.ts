/*
 * The local stack: PostgreSQL (embedded unless configured), migrations, a cluster (the simulator
 * unless one is configured; never a fallback when one is), the gateway on 127.0.0.1 serving every
 * function that exists, the schedules from stack.yml, and events routed through the outbox.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Clock } from '../shared/clock.js';
import { loadConfig } from '../shared/config.js';
import { migrate } from '../shared/db/migrate.js';
import { makeDeps } from '../shared/deps.js';
import { createEndpoint } from '../shared/runtime/endpoint.js';
import { allFunctions } from '../functions/index.js';
import { loadPodWatchConfig } from '../pod-watch/config.js';
import { startPodWatch } from '../pod-watch/run.js';
import type { PodWatch } from '../pod-watch/run.js';
import { localCluster } from './cluster.js';
import type { LocalCluster } from './cluster.js';
import { localDatabase } from './database.js';
import type { LocalDatabase } from './database.js';
import { startDemoKickoff } from './demo-kickoff.js';
import { seedDemoDatabase } from './demo-seed-db.js';
import { createGateway } from './gateway.js';
import { text } from './gateway-system.js';
import { schedulesFromStack, startSchedules } from './schedules.js';
import type { FunctionSchedule } from './schedules.js';
import { demoActionEnv } from './demo-actions.js';
import { functionsFromStack } from './stack-functions.js';

export interface LocalStackOptions {
  env: Record<string, string | undefined>;
  port: number;
  demo: boolean;
  /** Fire the stack.yml schedules (off in tests that drive every run by hand). */
  schedules: boolean;
  /** Run the pod-watch source, so pod changes reach expire and oom-scan within seconds, as on a cluster (off when absent). */
  podWatch?: boolean;
  log?: Logger;
  /** Time for the functions and the simulator; e2e tests move it by hand instead of sleeping. */
  clock?: Clock;
  /** Serve (and fire, when schedules are on) this cron for every scheduled function, for testing a real cron-connector quickly. */
  scheduleOverride?: string;
  /** Told each start-up step as it begins (the banner says them; start-up takes a while). */
  progress?: (step: string) => void;
}

export interface LocalStack {
  url: string;
  database: LocalDatabase;
  cluster: LocalCluster;
  functions: string[];
  /** The pod-watch source, when it runs; stopping it leaves the scheduled scans as the only path. */
  podWatch: PodWatch | undefined;
  stop(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const progress = options.progress ?? (() => undefined);
  // The port is bound first (its URL is in the functions' configuration): until the gateway
  // exists, a request gets 503 and a Retry-After instead of hanging.
  const ready: { listener?: http.RequestListener } = {};
  const server = http.createServer((req, res) => (ready.listener ? ready.listener(req, res) : starting(res)));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', resolve);
  });
  progress('database: starting PostgreSQL (the first start initialises it, which takes a while)');
  const database = await localDatabase(options.env);
  progress('cluster: starting the simulated cluster unless one is configured');
  const cluster = await localCluster(options.env, options.clock);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const config = loadConfig({
    // A clock handed in (e2e tests) keeps a time of its own on purpose: clock sanity off unless the env says otherwise.
    ...(options.clock ? { CLOCK_SKEW_MAX_SECONDS: '0' } : {}),
    ...options.env,
    ...(options.demo ? demoActionEnv(options.env, url) : {}),
    ...(database.url ? { DATABASE_URL: database.url } : {}),
    ...cluster.env,
    OPENFAAS_GATEWAY_URL: url,
    EVENT_DELIVERY: 'openfaas',
  });
  const deps = makeDeps(config, {
    ...(options.log ? { log: options.log } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  progress('migrations: bringing the schema up to date');
  await migrate(deps.pool);
  if (options.demo && cluster.simulated) {
    progress('demo: seeding reservations and pods');
    await seedDemoDatabase(deps.pool, deps.clock.now());
    cluster.seedDemo();
  }
  const stackYaml = readFileSync('stack.yml', 'utf8');
  const schedules = overridden(schedulesFromStack(stackYaml), options.scheduleOverride);
  const described = functionsFromStack(stackYaml);
  const runtime = { metrics: deps.metrics, logger: deps.log, bodyLimitBytes: config.events.bodyLimitBytes };
  const gateway = createGateway({
    functions: allFunctions.map((fn) => ({
      name: fn.name,
      endpoint: createEndpoint(fn, () => deps, runtime),
      stack: described.find((entry) => entry.name === fn.name),
      schedule: schedules.find((schedule) => schedule.fn === fn.name)?.cron,
    })),
    bodyLimitBytes: config.events.bodyLimitBytes,
    log: deps.log,
    metrics: deps.metrics,
  });
  ready.listener = gateway.listener;
  const served = new Set(allFunctions.map((fn) => fn.name as string));
  // The embedded database too: pod-watch serves the fleet gauges and /why from it.
  const podWatchEnv = { ...cluster.env, ...(database.url ? { DATABASE_URL: database.url } : {}) };
  const podWatch = options.podWatch === true ? await startLocalPodWatch(options, podWatchEnv, url, deps) : undefined;
  const scheduler = options.schedules
    ? startSchedules(
        schedules.filter((schedule) => served.has(schedule.fn)),
        (fn) => void tick(url, fn, deps.log),
      )
    : undefined;
  const kickoff =
    options.demo && options.schedules && cluster.simulated
      ? startDemoKickoff([...served], (fn) => tick(url, fn, deps.log))
      : undefined;
  return {
    url,
    database,
    cluster,
    functions: [...served],
    podWatch,
    stop: async () => {
      scheduler?.stop();
      kickoff?.stop();
      await podWatch?.stop(2_000);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await gateway.drain();
      await deps.close();
      await cluster.stop();
      await database.stop();
    },
  };
}

function starting(res: http.ServerResponse): void {
  const answer = text(503, 'the local stack is starting; try again in a few seconds');
  res.writeHead(answer.status, { ...answer.headers, 'retry-after': '2' }).end(answer.body);
}

function overridden(schedules: FunctionSchedule[], cron: string | undefined): FunctionSchedule[] {
  return cron === undefined ? schedules : schedules.map((schedule) => ({ ...schedule, cron }));
}

/** The same source the cluster runs beside the gateway, pointed at this gateway; health on a free loopback port. */
function startLocalPodWatch(
  options: LocalStackOptions,
  stackEnv: Record<string, string>,
  gatewayUrl: string,
  deps: { clock: Clock; log: Logger },
): Promise<PodWatch> {
  const config = loadPodWatchConfig({
    ...options.env,
    ...stackEnv,
    OPENFAAS_GATEWAY_URL: gatewayUrl,
    POD_WATCH_PORT: '0',
  });
  return startPodWatch(config, { clock: deps.clock, log: deps.log, host: '127.0.0.1' });
}

/** A tick exactly as the cron-connector sends it: empty body, its two headers. */
async function tick(url: string, fn: string, log: Logger): Promise<void> {
  try {
    const response = await fetch(`${url}/function/${fn}`, {
      method: 'POST',
      headers: { 'x-connector': 'cron-connector', 'x-topic': 'cron-function' },
    });
    const body = await response.text();
    log.info({ fn, status: response.status, answer: body.slice(0, 300) }, 'scheduled run');
  } catch (err) {
    log.error({ err, fn }, 'scheduled run could not be sent');
  }
}

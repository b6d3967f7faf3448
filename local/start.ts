/*
 * `npm start [-- --port N] [-- --no-demo] [-- --no-pod-watch] [-- --no-schedules] [-- --schedule CRON]`:
 * the local stack. PostgreSQL (embedded unless DATABASE_URL / POSTGRES_PASSWORD is set),
 * migrations, a cluster (simulated unless KUBECONFIG / KUBE_API_SERVER is set), the gateway with
 * every function, the stack.yml schedules, the pod-watch source. Ctrl-C stops.
 * --no-schedules leaves the ticks to an external scheduler (the real cron-connector pointed at
 * the gateway); --schedule serves one cron for every scheduled function, to see it fire quickly.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { processEnvironment } from '../shared/config.js';
import { Invalid } from '../shared/errors.js';
import { runCli } from './cli-errors.js';
import { startLocalStack } from './stack.js';
import type { LocalStack } from './stack.js';
import { removeStackState, writeStackState } from './stack-state.js';

const FLAGS = {
  port: { type: 'string' },
  'no-demo': { type: 'boolean', default: false },
  'no-pod-watch': { type: 'boolean', default: false },
  'no-schedules': { type: 'boolean', default: false },
  schedule: { type: 'string' },
} as const;

function options(env: Record<string, string | undefined>) {
  let values;
  try {
    ({ values } = parseArgs({ options: FLAGS, strict: true }));
  } catch (err) {
    throw new Invalid((err as Error).message, [{ field: 'arguments', message: (err as Error).message }]);
  }
  const port = Number(values.port ?? env.GATEWAY_PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Invalid('--port / GATEWAY_PORT must be a port number', [{ field: '--port', message: 'must be 0-65535' }]);
  return {
    port,
    demo: !values['no-demo'],
    podWatch: !values['no-pod-watch'],
    schedules: !values['no-schedules'],
    scheduleOverride: values.schedule,
  };
}

const say = (line: string) => process.stdout.write(`[devenv-lifecycle] ${line}\n`);

runCli(async () => {
  const env = processEnvironment();
  const { scheduleOverride, ...chosen } = options(env);
  say('starting: the gateway port answers 503 until every step below is done');
  const stack = await startLocalStack({
    env,
    ...chosen,
    ...(scheduleOverride !== undefined && { scheduleOverride }),
    progress: (step) => say(`starting  ${step}`),
  });
  const cliEnv = {
    ...(stack.database.url && { DATABASE_URL: stack.database.url }),
    ...(stack.cluster.simulated && simulatedClusterEnv(stack)),
  };
  writeStackState({ pid: process.pid, gateway: stack.url, env: cliEnv });
  banner(stack, chosen);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  say('stopping...');
  removeStackState(process.pid);
  await stack.stop();
});

function simulatedClusterEnv(stack: LocalStack): Record<string, string> {
  if (!stack.cluster.simulated) return {};
  const { KUBE_API_SERVER: _server, KUBE_TOKEN: _token, ...cloud } = stack.cluster.env;
  return { KUBECONFIG: resolve(stack.cluster.kubeconfigPath), ...cloud };
}

function banner(stack: LocalStack, chosen: { demo: boolean; schedules: boolean }): void {
  say(`database:  ${stack.database.description}`);
  if (stack.database.url) say(`           DATABASE_URL=${stack.database.url}`);
  say(`cluster:   ${stack.cluster.description}`);
  if (stack.cluster.simulated) {
    say(`           watch it: kubectl --kubeconfig ${stack.cluster.kubeconfigPath} get pods -A -w`);
    say(
      `demo:      ${chosen.demo ? 'seeded (reservations expiring in the next minutes, an OOM kill, stuck and stale ones, labs stuck in ENDING)' : 'off (--no-demo)'}`,
    );
  }
  say(`gateway:   ${stack.url}  functions: ${stack.functions.join(', ')}`);
  say(
    `pod-watch: ${stack.podWatch ? `on (pod changes reach expire and oom-scan at once; health ${stack.podWatch.health.url}/healthz)` : 'off (--no-pod-watch): the schedules alone find pod changes'}`,
  );
  say(`try:       curl -s -XPOST ${stack.url}/function/expire -d '{"dryRun":true}'`);
  say(`           faas-cli list --gateway ${stack.url}`);
  say('           npx devenv-lifecycle runs    (from this checkout it finds this stack by itself)');
  say(
    chosen.schedules
      ? 'schedules: from stack.yml (UTC). Press Ctrl-C to stop.'
      : 'schedules: off (--no-schedules): point a cron-connector at the gateway. Press Ctrl-C to stop.',
  );
}

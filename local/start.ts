/*
 * `npm start [-- --port N] [-- --no-demo] [-- --no-pod-watch]`: the local stack. PostgreSQL (embedded unless
 * DATABASE_URL / POSTGRES_PASSWORD is set), migrations, a cluster (simulated unless KUBECONFIG /
 * KUBE_API_SERVER is set), the gateway with every function, the stack.yml schedules, the pod-watch
 * source. Ctrl-C stops.
 */
import { parseArgs } from 'node:util';
import { processEnvironment } from '../shared/config.js';
import { Invalid } from '../shared/errors.js';
import { runCli } from './cli-errors.js';
import { startLocalStack } from './stack.js';

function options(env: Record<string, string | undefined>) {
  let values;
  try {
    ({ values } = parseArgs({ options: { port: { type: 'string' }, 'no-demo': { type: 'boolean', default: false }, 'no-pod-watch': { type: 'boolean', default: false } }, strict: true }));
  } catch (err) {
    throw new Invalid((err as Error).message, [{ field: 'arguments', message: (err as Error).message }]);
  }
  const port = Number(values.port ?? env.GATEWAY_PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Invalid('--port / GATEWAY_PORT must be a port number', [{ field: '--port', message: 'must be 0-65535' }]);
  return { port, demo: !values['no-demo'], podWatch: !values['no-pod-watch'] };
}

runCli(async () => {
  const env = processEnvironment();
  const { port, demo, podWatch } = options(env);
  const stack = await startLocalStack({ env, port, demo, schedules: true, podWatch });
  const say = (line: string) => process.stdout.write(`[devenv-lifecycle] ${line}\n`);
  say(`database:  ${stack.database.description}`);
  say(`cluster:   ${stack.cluster.description}`);
  if (stack.cluster.simulated) {
    say(`           watch it: kubectl --kubeconfig ${stack.cluster.kubeconfigPath} get pods -A -w`);
    say(`demo:      ${demo ? 'seeded (reservations expiring in the next minutes, an OOM kill, stuck and stale ones, labs stuck in ENDING)' : 'off (--no-demo)'}`);
  }
  say(`gateway:   ${stack.url}  functions: ${stack.functions.join(', ')}`);
  say(`pod-watch: ${stack.podWatch ? `on (pod changes reach expire and oom-scan at once; health ${stack.podWatch.health.url}/healthz)` : 'off (--no-pod-watch): the schedules alone find pod changes'}`);
  say(`try:       curl -s -XPOST ${stack.url}/function/expire -d '{"dryRun":true}'`);
  say(`           npx devenv-lifecycle runs    (with DATABASE_URL set to the database above)`);
  say('schedules: from stack.yml (UTC). Press Ctrl-C to stop.');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  say('stopping...');
  await stack.stop();
});

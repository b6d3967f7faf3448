/*
 * `npm run sim -- [--port N] [--host ADDR]`: the combined simulator on loopback, on the system clock,
 * with its kubeconfig written to .data/sim-kubeconfig so kubectl (and the local stack) can use it.
 * `npm run sim -- <command> …` (a word first, not a flag) drives a running one instead: see
 * sim/control-cli.ts (the same as `devenv-lifecycle sim <command>`).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const usage = 'usage: npm run sim -- [--port N] [--host 127.0.0.1]';

function parseOptions(argv: string[]): { port: number; host: string } {
  const { values } = parseArgs({
    args: argv,
    options: { port: { type: 'string' }, host: { type: 'string' } },
    strict: true,
    allowPositionals: false,
  });
  const port = Number(values.port ?? '0');
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port must be an integer from 0 to 65535, got "${values.port}"`);
  const host = values.host ?? '127.0.0.1';
  if (!/^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(host))
    throw new Error(`--host must be a loopback address, got "${host}"`);
  return { port, host };
}

async function main(): Promise<void> {
  const first = process.argv[2];
  if (first !== undefined && !first.startsWith('-')) {
    const { simCommand } = await import('./control-cli.js');
    const { processEnvironment } = await import('../shared/config.js');
    process.exit(await simCommand(process.argv.slice(2), processEnvironment(), process.cwd()));
  }
  let options: { port: number; host: string };
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`sim: ${err instanceof Error ? err.message : String(err)}. ${usage}`);
    process.exit(2);
  }
  // Loaded only once the flags are good, so a typo is answered at once rather than after the
  // Kubernetes client and the AWS simulator have loaded.
  const { startSim } = await import('./server.js');
  const sim = await startSim(options);
  const kubeconfig = path.resolve('.data', 'sim-kubeconfig');
  mkdirSync(path.dirname(kubeconfig), { recursive: true });
  writeFileSync(kubeconfig, sim.kubeconfigYaml(), { mode: 0o600 });
  console.log(`simulated Kubernetes API, EC2 and Lambda at ${sim.url}`);
  console.log(`kubeconfig: ${kubeconfig}   (try: KUBECONFIG=${kubeconfig} kubectl get pods -A)`);
  console.log(`AWS clients: endpoint ${sim.url}, any credentials, any region`);
  console.log(`control API: ${sim.url}/_sim/   (try: npm run sim -- state)`);
  const stop = (signal: string) => {
    console.log(`${signal}: stopping`);
    sim.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error('sim: failed to stop cleanly:', err);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

await main();

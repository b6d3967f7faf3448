/*
 * The pod-watch source for OpenFaaS, as a long-running process (k8s/openfaas/pod-watch.yaml):
 * configuration parsed once, then it watches reservation pods and hands each change to the
 * gateway until SIGTERM, when it stops watching and delivers what it already queued. A watch that
 * fails for good (no permission) ends the process with status 1 so the kubelet restarts it.
 */
import { processEnvironment } from '../shared/config.js';
import { Invalid } from '../shared/errors.js';
import { loadPodWatchConfig } from './config.js';
import { startPodWatch } from './run.js';

const DRAIN_MS = 10_000;

async function main(): Promise<number> {
  const watch = await startPodWatch(loadPodWatchConfig(processEnvironment()));
  const stopped = new Promise<number>((resolve) => {
    process.once('SIGTERM', () => resolve(0));
    process.once('SIGINT', () => resolve(0));
  });
  const code = await Promise.race([
    stopped,
    watch.source.done.then(
      () => 0,
      () => 1,
    ),
  ]);
  await watch.stop(DRAIN_MS);
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`pod-watch: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(err instanceof Invalid ? 2 : 1);
  },
);

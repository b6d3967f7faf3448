/*
 * The local stack's cluster: the one configured (KUBECONFIG, KUBE_API_SERVER, or in a cluster),
 * never replaced by the simulator; otherwise the built-in simulated cluster (Kubernetes API, EC2
 * and Lambda on one loopback port), with a kubeconfig written for kubectl.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../shared/clock.js';
import { startSim } from '../sim/server.js';
import type { Sim } from '../sim/server.js';
import { simProductEnv } from '../sim/product-env.js';
import { DATA_DIR } from './database.js';
import { seedDemoCluster } from './demo-seed-cluster.js';

const AVAILABILITY_UPDATER = 'gpu-dev-availability-updater';

export type LocalCluster =
  | { simulated: false; description: string; env: Record<string, string>; stop(): Promise<void> }
  | {
      simulated: true;
      description: string;
      env: Record<string, string>;
      sim: Sim;
      kubeconfigPath: string;
      seedDemo(): void;
      stop(): Promise<void>;
    };

export async function localCluster(env: Record<string, string | undefined>, clock?: Clock): Promise<LocalCluster> {
  const configured =
    env.KUBECONFIG ?? env.KUBE_API_SERVER ?? (env.KUBERNETES_SERVICE_HOST ? 'in-cluster service account' : undefined);
  if (configured !== undefined) {
    return {
      simulated: false,
      description: `configured cluster (${configured})`,
      env: {},
      stop: async () => undefined,
    };
  }
  const sim = await startSim(clock ? { clock } : {});
  // The stack names this updater in its configuration, so the simulated cloud must have it.
  sim.aws.addFunction(AVAILABILITY_UPDATER);
  mkdirSync(DATA_DIR, { recursive: true });
  const kubeconfigPath = join(DATA_DIR, 'sim-kubeconfig');
  writeFileSync(kubeconfigPath, sim.kubeconfigYaml());
  return {
    simulated: true,
    description: `SIMULATED cluster (Kubernetes API, EC2 and Lambda) at ${sim.url}; kubeconfig in ${kubeconfigPath}`,
    env: {
      ...simProductEnv(sim),
      AVAILABILITY_UPDATER_FUNCTION_NAME: AVAILABILITY_UPDATER,
    },
    sim,
    kubeconfigPath,
    seedDemo: () => seedDemoCluster(sim),
    stop: () => sim.close(),
  };
}

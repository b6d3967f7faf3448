/*
 * The CLI's environment: the process's own, completed by the running local stack's coordinates
 * when run from its checkout (stack-state.ts), and checked for a cluster before an in-process
 * run, so a missing one is named rather than failing deep inside the Kubernetes client.
 */
import { processEnvironment } from '../shared/config.js';
import { Invalid } from '../shared/errors.js';
import { readStackState, withLocalStack } from './stack-state.js';

export function cliEnvironment(): Record<string, string | undefined> {
  return withLocalStack(processEnvironment(), readStackState());
}

export function requireCluster(env: Record<string, string | undefined>): void {
  if (env.KUBECONFIG !== undefined || env.KUBE_API_SERVER !== undefined || env.KUBERNETES_SERVICE_HOST !== undefined)
    return;
  throw new Invalid(
    'no Kubernetes API configured: set KUBECONFIG (or KUBE_API_SERVER and KUBE_TOKEN), or start the local stack (npm start) in this checkout',
    [{ field: 'KUBECONFIG', message: 'not set, and no local stack is running' }],
  );
}

/*
 * Where the Kubernetes API is and how to authenticate, as a plain options object the composition
 * root fills from configuration (this module never reads the environment): in-cluster service
 * account, a kubeconfig file, or an explicit server and bearer token (the simulator).
 */
import { KubeConfig } from '@kubernetes/client-node';
import { Fatal } from '../errors.js';

export interface KubeOptions {
  /** Use the pod's service account (KUBERNETES_SERVICE_HOST and the mounted token). */
  inCluster?: boolean;
  kubeconfigPath?: string;
  /** An explicit API server URL, with `token`; plain http is allowed (it is how the simulator is reached). */
  server?: string;
  token?: string;
  /** Budget for each API request (not watches, which have their own server-side timeout). */
  requestTimeoutMs: number;
  /** Budget for one exec, from the WebSocket upgrade to the command's status. */
  execTimeoutMs: number;
  /** Items per list request (`limit`); the rest follows by `continue`. 500 when absent, as kubectl. */
  listPageSize?: number;
}

function fromServer(server: string, token: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  const name = 'devenv-lifecycle';
  kc.loadFromOptions({
    // The client builds request URLs as server + path, so a trailing slash would double up.
    clusters: [{ name, server: server.replace(/\/+$/, ''), skipTLSVerify: server.startsWith('http://') }],
    users: [{ name, ...(token !== undefined && { token }) }],
    contexts: [{ name, cluster: name, user: name }],
    currentContext: name,
  });
  return kc;
}

/** @throws Fatal when no way to reach the API is configured, or the kubeconfig cannot be loaded. */
export function kubeConfigFrom(options: KubeOptions): KubeConfig {
  try {
    if (options.server !== undefined) return fromServer(options.server, options.token);
    const kc = new KubeConfig();
    if (options.kubeconfigPath !== undefined) kc.loadFromFile(options.kubeconfigPath);
    else if (options.inCluster) kc.loadFromCluster();
    else throw new Fatal('no Kubernetes API configured: set a server, a kubeconfig path, or in-cluster');
    if (!kc.getCurrentCluster()) throw new Fatal('the kubeconfig has no current cluster');
    return kc;
  } catch (err) {
    if (err instanceof Fatal) throw err;
    throw new Fatal(`cannot load the Kubernetes configuration: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/*
 * What a Kubernetes client loads on its first request (shared/kube/index.ts imports this module
 * with `import()`): @kubernetes/client-node, with its dependencies the biggest part of a bundle, and
 * the modules built on it. Functions answer health checks and parse requests without the cluster,
 * so a bundle does not parse any of this at start-up (build/bundle.ts puts it in its own chunk).
 */
import { ApiException, CoreV1Api, KubeConfig, NetworkingV1Api } from '@kubernetes/client-node';
import { Fatal } from '../errors.js';
import { callApi } from './call.js';
import type { KubeOptions } from './config.js';
import { execInPod } from './exec.js';
import { watchPods } from './watch.js';

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
function kubeConfigFrom(options: KubeOptions): KubeConfig {
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
    throw new Fatal(`cannot load the Kubernetes configuration: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
}

export function connect(options: KubeOptions) {
  const kc = kubeConfigFrom(options);
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    networking: kc.makeApiClient(NetworkingV1Api),
    callApi,
    execInPod,
    watchPods,
    /** The server's 410 Gone: a continue token or watch version it no longer honours. */
    isGone: (err: unknown) => err instanceof ApiException && err.code === 410,
  };
}

export type Connection = ReturnType<typeof connect>;

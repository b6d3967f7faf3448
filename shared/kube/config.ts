/*
 * Where the Kubernetes API is and how to authenticate, as a plain options object the composition
 * root fills from configuration (this module never reads the environment): in-cluster service
 * account, a kubeconfig file, or an explicit server and bearer token (the simulator). The client
 * library reads these on the first request (connection.ts); what can be checked without it is
 * checked here, when the client is created, so a function without a way to the API stops at start.
 */
import { readFileSync } from 'node:fs';
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

/**
 * @throws Fatal when no way to reach the API is configured, or the kubeconfig file cannot be read.
 * Its content (a current cluster) is checked when it is loaded, on the first request.
 */
export function checkKubeOptions(options: KubeOptions): void {
  if (options.server !== undefined) return;
  if (options.kubeconfigPath === undefined) {
    if (options.inCluster) return;
    throw new Fatal('no Kubernetes API configured: set a server, a kubeconfig path, or in-cluster');
  }
  try {
    readFileSync(options.kubeconfigPath);
  } catch (err) {
    throw new Fatal(`cannot load the Kubernetes configuration: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
}

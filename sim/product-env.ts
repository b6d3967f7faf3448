/*
 * The product's configuration that points at a running simulator: the Kubernetes API server and
 * token, the AWS endpoint with static test credentials and a region. Tests, benchmarks and
 * child processes spread this into their environment instead of typing the keys out again.
 */
import type { Sim } from './server.js';

export function simProductEnv(sim: Pick<Sim, 'url' | 'token'>): Record<string, string> {
  return {
    KUBE_API_SERVER: sim.url,
    KUBE_TOKEN: sim.token,
    AWS_ENDPOINT_URL: sim.url,
    AWS_ACCESS_KEY_ID: 'AKIDTEST',
    AWS_SECRET_ACCESS_KEY: 'secret',
    AWS_REGION: 'us-east-1',
  };
}

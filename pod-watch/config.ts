/*
 * pod-watch's configuration: the project's own variables (one schema, shared/config.ts), only the
 * ones this process needs. It talks to the Kubernetes API and the gateway, never to the database,
 * so it needs no database credentials.
 */
import { EnvSchema, kubeSettings } from '../shared/config.js';
import { Invalid } from '../shared/errors.js';
import type { KubeOptions } from '../shared/kube/index.js';
import type { RetryPolicyOptions } from '../shared/resilience.js';

const PodWatchEnv = EnvSchema.pick({
  KUBECONFIG: true, KUBE_API_SERVER: true, KUBE_TOKEN: true, KUBERNETES_SERVICE_HOST: true, KUBE_REQUEST_TIMEOUT_MS: true, EXEC_TIMEOUT_SECONDS: true,
  OPENFAAS_GATEWAY_URL: true, RESERVATION_NAMESPACE: true, RESERVATION_LABEL: true, LOG_LEVEL: true, LOG_HASH_SALT: true,
  POD_WATCH_NAMESPACES: true, POD_WATCH_PORT: true, POD_WATCH_QUEUE_LIMIT: true, POD_WATCH_DELIVERY_ATTEMPTS: true,
});

export interface PodWatchConfig {
  kube: KubeOptions;
  gatewayUrl: string;
  namespaces: string[];
  reservationLabel: string;
  port: number;
  queueLimit: number;
  /** Events in delivery at once. */
  concurrency: number;
  retry: RetryPolicyOptions;
  logLevel: string;
  logHashSalt: string;
}

export function loadPodWatchConfig(env: Record<string, string | undefined>): PodWatchConfig {
  const defined = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = PodWatchEnv.safeParse(defined);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => ({ field: String(issue.path[0] ?? '(config)'), message: issue.message }));
    throw new Invalid(`Invalid configuration: ${issues.map((issue) => `${issue.field}: ${issue.message}`).join('; ')}`, issues);
  }
  const e = parsed.data;
  return {
    kube: kubeSettings(e),
    gatewayUrl: e.OPENFAAS_GATEWAY_URL,
    namespaces: e.POD_WATCH_NAMESPACES.length > 0 ? e.POD_WATCH_NAMESPACES : [e.RESERVATION_NAMESPACE],
    reservationLabel: e.RESERVATION_LABEL,
    port: e.POD_WATCH_PORT,
    queueLimit: e.POD_WATCH_QUEUE_LIMIT,
    concurrency: 8,
    retry: { maxAttempts: e.POD_WATCH_DELIVERY_ATTEMPTS, initialDelayMs: 200, maxDelayMs: 5_000, callTimeoutMs: 5_000 },
    logLevel: e.LOG_LEVEL,
    logHashSalt: e.LOG_HASH_SALT,
  };
}

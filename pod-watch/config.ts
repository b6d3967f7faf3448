/*
 * pod-watch's configuration: the project's own variables (one schema, shared/config.ts), only the
 * ones this process needs. The watch talks to the Kubernetes API and the gateway only; the
 * database is optional, for the fleet gauges and GET /why/<id>, and is used when DATABASE_URL or
 * POSTGRES_PASSWORD is set, from the environment or, as the functions read it, from a secret file
 * (/var/openfaas/secrets/postgres-password, or under SECRETS_DIR). Its policy settings are the
 * functions' own, so "stuck" and "overdue" mean what the functions act on.
 * POD_WATCH_MODE=gauges serves only the fleet gauges and /why, without watching pods: the
 * always-on exporter on Knative, where an ApiServerSource delivers pod changes instead.
 */
import { z } from 'zod';
import { databaseSettings, DEFAULT_SECRETS_DIR, EnvSchema, kubeSettings } from '../shared/config.js';
import { readSecretFiles } from '../shared/config-secrets.js';
import type { DatabaseSettings } from '../shared/db/pool.js';
import type { FleetPolicy } from '../shared/db/queries/fleet.js';
import { Invalid } from '../shared/errors.js';
import type { KubeOptions } from '../shared/kube/index.js';
import type { RetryPolicyOptions } from '../shared/resilience.js';

const PodWatchEnv = EnvSchema.pick({
  KUBECONFIG: true,
  KUBE_API_SERVER: true,
  KUBE_TOKEN: true,
  KUBERNETES_SERVICE_HOST: true,
  KUBE_REQUEST_TIMEOUT_MS: true,
  EXEC_TIMEOUT_SECONDS: true,
  OPENFAAS_GATEWAY_URL: true,
  RESERVATION_NAMESPACE: true,
  RESERVATION_LABEL: true,
  LOG_LEVEL: true,
  LOG_HASH_SALT: true,
  POD_WATCH_NAMESPACES: true,
  POD_WATCH_PORT: true,
  POD_WATCH_QUEUE_LIMIT: true,
  POD_WATCH_DELIVERY_ATTEMPTS: true,
  DATABASE_URL: true,
  POSTGRES_HOST: true,
  POSTGRES_PORT: true,
  POSTGRES_USER: true,
  POSTGRES_PASSWORD: true,
  POSTGRES_DB: true,
  POSTGRES_SSLMODE: true,
  DB_STATEMENT_TIMEOUT_MS: true,
  DB_LOCK_TIMEOUT_MS: true,
  GRACE_PERIOD_SECONDS: true,
  PREPARING_TIMEOUT_MINUTES: true,
  QUEUE_TIMEOUT_HOURS: true,
  WATCHDOG_OLDER_THAN_MINUTES: true,
}).extend({ POD_WATCH_MODE: z.enum(['watch', 'gauges']).default('watch') });

const SECRET_SETTINGS = ['DATABASE_URL', 'POSTGRES_PASSWORD'];

export interface PodWatchConfig {
  /** watch: pod changes to the gateway, plus the gauges; gauges: the gauges and /why only. */
  mode: 'watch' | 'gauges';
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
  /** Absent when no database is configured: no fleet gauges, and /why answers 503. */
  database?: DatabaseSettings;
  fleetPolicy: FleetPolicy;
}

export function loadPodWatchConfig(env: Record<string, string | undefined>): PodWatchConfig {
  const fromFiles = readSecretFiles(env.SECRETS_DIR ?? DEFAULT_SECRETS_DIR, SECRET_SETTINGS);
  const defined = {
    ...fromFiles,
    ...Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== '')),
  };
  const parsed = PodWatchEnv.safeParse(defined);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => ({
      field: String(issue.path[0] ?? '(config)'),
      message: issue.message,
    }));
    throw new Invalid(
      `Invalid configuration: ${issues.map((issue) => `${issue.field}: ${issue.message}`).join('; ')}`,
      issues,
    );
  }
  const e = parsed.data;
  if (e.POD_WATCH_MODE === 'gauges' && !e.DATABASE_URL && !e.POSTGRES_PASSWORD) {
    const issue = {
      field: 'POSTGRES_PASSWORD',
      message: 'POD_WATCH_MODE=gauges needs the database (POSTGRES_PASSWORD or DATABASE_URL)',
    };
    throw new Invalid(`Invalid configuration: ${issue.field}: ${issue.message}`, [issue]);
  }
  return {
    mode: e.POD_WATCH_MODE,
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
    // Two connections: a scrape and a /why answer at once; neither holds one for long.
    database:
      e.DATABASE_URL || e.POSTGRES_PASSWORD
        ? { ...databaseSettings({ ...e, DB_POOL_MAX: 2 }), applicationName: 'devenv-lifecycle-pod-watch' }
        : undefined,
    fleetPolicy: {
      graceSeconds: e.GRACE_PERIOD_SECONDS,
      preparingTimeoutMinutes: e.PREPARING_TIMEOUT_MINUTES,
      queueTimeoutHours: e.QUEUE_TIMEOUT_HOURS,
      watchdogOlderThanMinutes: e.WATCHDOG_OLDER_THAN_MINUTES,
    },
  };
}

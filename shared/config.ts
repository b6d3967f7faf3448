/*
 * The one typed configuration (SPEC.md section 6). Parsed once, at the entry, from an environment
 * object and from secret files (OpenFaaS and Knative mount secrets under /var/openfaas/secrets/,
 * one file per setting, named after it: POSTGRES_PASSWORD -> postgres-password). Nothing else in
 * the product reads process.env.
 */
import { z } from 'zod';
import { readSecretFiles, secretFileName } from './config-secrets.js';
import { Invalid } from './errors.js';
import { FUNCTION_NAMES } from './function-names.js';
import type { FunctionName } from './function-names.js';
import type { InvalidIssue } from './errors.js';

export const DEFAULT_SECRETS_DIR = '/var/openfaas/secrets';
export const DEFAULT_EVENT_MAX_ATTEMPTS = 30;

const text = z.string().trim().min(1, 'must not be empty');
// A Kubernetes label key: optional DNS prefix and a name of at most 63 characters.
const labelKey = z
  .string()
  .regex(
    /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/,
    'must be a Kubernetes label key',
  );
const bool = z.stringbool({ error: 'must be true or false' });
// Every number has both bounds: an unbounded one (a timeout of 1e12 ms, an age of 1e10 minutes)
// turns into an invalid date or a timer that fires at once, far from the setting that caused it.
// One schema with three checks: each chained .int()/.min()/.max() would build another schema,
// which start-up pays for every setting (a bundled function's cold start, build/bundle.ts).
const wholeNumber = (min: number, max: number) =>
  z.coerce
    .number({ error: 'must be a number' })
    .check(
      z.multipleOf(1, 'must be a whole number'),
      z.gte(min, `must be at least ${min}`),
      z.lte(max, `must be at most ${max}`),
    );
const MAX_WARNING_MINUTES = 10_080;
const minutesListError = `must be a comma-separated list of whole minutes from 1 to ${MAX_WARNING_MINUTES}, e.g. 30,15,5`;
const minutesList = z.string().transform((raw, ctx) => {
  const levels = raw
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map(Number);
  if (
    levels.length === 0 ||
    levels.some((level) => !Number.isInteger(level) || level <= 0 || level > MAX_WARNING_MINUTES)
  ) {
    ctx.addIssue({ code: 'custom', message: minutesListError });
    return z.NEVER;
  }
  return [...new Set(levels)].sort((a, b) => b - a);
});

/** Flat schema over variable names, so every error names the variable the operator must fix. */
export const EnvSchema = z.object({
  DATABASE_URL: text.optional(),
  POSTGRES_HOST: text.default('postgres-primary.controlplane.svc.cluster.local'),
  POSTGRES_PORT: wholeNumber(1, 65_535).default(5432),
  POSTGRES_USER: text.default('gpudev'),
  POSTGRES_PASSWORD: z.string().optional(),
  POSTGRES_DB: text.default('gpudev'),
  POSTGRES_SSLMODE: z.enum(['disable', 'require', 'verify-full']).default('disable'),
  // A scheduled run holds its single-flight lock on one connection and works on another.
  DB_POOL_MAX: wholeNumber(2, 100).default(10),
  DB_STATEMENT_TIMEOUT_MS: wholeNumber(100, 3_600_000).default(15_000),
  DB_LOCK_TIMEOUT_MS: wholeNumber(10, 600_000).default(5_000),

  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_HASH_SALT: z.string().default('devenv-lifecycle'),

  KUBECONFIG: text.optional(),
  KUBE_API_SERVER: z.url({ error: 'must be a URL such as https://10.0.0.1:6443' }).optional(),
  KUBE_TOKEN: text.optional(),
  KUBERNETES_SERVICE_HOST: text.optional(),
  KUBE_REQUEST_TIMEOUT_MS: wholeNumber(100, 300_000).default(10_000),
  EXEC_TIMEOUT_SECONDS: wholeNumber(1, 3600).default(30),

  AWS_REGION: text.default('us-east-2'),
  AWS_ENDPOINT_URL: z.url({ error: 'must be a URL' }).optional(),
  AWS_ACCESS_KEY_ID: text.optional(),
  AWS_SECRET_ACCESS_KEY: text.optional(),
  AWS_REQUEST_TIMEOUT_MS: wholeNumber(100, 300_000).default(15_000),
  AVAILABILITY_UPDATER_FUNCTION_NAME: text.optional(),

  RESERVATION_NAMESPACE: text.default('gpu-dev'),
  MAIN_CONTAINER: text.default('gpu-dev'),
  LAB_NAMESPACE: text.default('octolab-labs'),
  RESERVATION_LABEL: labelKey.default('reservation-id'),
  LAB_LABEL: labelKey.default('lab-id'),
  POD_CHECK_BATCH: wholeNumber(1, 1000).default(200),
  // Pods per list request in oom-scan's scan: what one page of processing holds in memory.
  OOM_SCAN_PAGE_SIZE: wholeNumber(10, 5000).default(500),
  // Pages one oom-scan run reads at most; the next run resumes where it stopped (a durable cursor).
  OOM_SCAN_PAGES_PER_RUN: wholeNumber(1, 10_000).default(100),

  WARNING_MINUTES: minutesList.default([30, 15, 5]),
  GRACE_PERIOD_SECONDS: wholeNumber(0, 86_400).default(120),
  LAUNCH_GRACE_MINUTES: wholeNumber(0, 1440).default(10),
  POD_ABSENT_CONFIRM_SECONDS: wholeNumber(1, 86_400).default(60),
  PREPARING_TIMEOUT_MINUTES: wholeNumber(1, 10_080).default(60),
  QUEUE_TIMEOUT_HOURS: wholeNumber(1, 8760).default(48),
  POD_DELETE_GRACE_SECONDS: wholeNumber(0, 3600).default(30),
  TEARDOWN_ESCALATE_MINUTES: wholeNumber(1, 10_080).default(30),

  SNAPSHOT_RETENTION_COUNT: wholeNumber(1, 1000).default(3),
  SNAPSHOT_DELETE_BUDGET: wholeNumber(0, 1000).default(10),
  DELETE_VOLUME_AFTER_SNAPSHOT: bool.default(true),
  SNAPSHOT_WAIT_ESCALATE_MINUTES: wholeNumber(1, 10_080).default(60),

  WATCHDOG_OLDER_THAN_MINUTES: wholeNumber(1, 525_600).default(30),
  WATCHDOG_MAX_LABS: wholeNumber(1, 1000).default(20),
  WATCHDOG_ACTION: z.enum(['force', 'fail']).default('force'),
  WATCHDOG_UNKNOWN_ATTEMPTS_ALERT: wholeNumber(1, 1000).default(3),
  LAB_LEASE_SECONDS: wholeNumber(10, 86_400).default(300),
  EVIDENCE_RETENTION_HOURS: wholeNumber(1, 8760).default(24),

  MAX_ITEMS: wholeNumber(1, 10_000).default(200),
  RUN_BUDGET_SECONDS: wholeNumber(1, 3600).default(50),
  CONCURRENCY: wholeNumber(1, 64).default(8),
  // warn's pod execs in flight: 1,000 warnings at 100 ms per exec take about 2 s at 64.
  WARN_CONCURRENCY: wholeNumber(1, 256).default(64),
  LIFECYCLE_PAUSED: bool.default(false),

  WEBHOOK_URL: z.url({ error: 'must be a URL' }).optional(),
  WEBHOOK_TIMEOUT_MS: wholeNumber(100, 300_000).default(5_000),
  // json: a plain JSON body; slack: Block Kit, with one button per action link.
  WARN_WEBHOOK_FORMAT: z.enum(['json', 'slack']).default('json'),

  K_SINK: z.url({ error: 'must be a URL' }).optional(),
  OPENFAAS_GATEWAY_URL: z.url({ error: 'must be a URL' }).default('http://gateway.openfaas:8080'),
  EVENT_DELIVERY: z.enum(['auto', 'knative', 'openfaas', 'none']).default('auto'),
  EVENT_BODY_LIMIT_BYTES: wholeNumber(1024, 16_777_216).default(262_144),
  // Delivery attempts before an event is dead-lettered (about 21 hours of backoff at 30).
  EVENT_MAX_ATTEMPTS: wholeNumber(1, 1_000).default(DEFAULT_EVENT_MAX_ATTEMPTS),

  // The pod-watch source (pod-watch/main.ts): namespaces to watch (RESERVATION_NAMESPACE when
  // empty), its health and metrics port, and how hard it tries to hand events to the gateway.
  POD_WATCH_NAMESPACES: z
    .string()
    .default('')
    .transform((raw) =>
      raw
        .split(',')
        .map((ns) => ns.trim())
        .filter((ns) => ns !== ''),
    ),
  POD_WATCH_PORT: wholeNumber(0, 65_535).default(8080),
  POD_WATCH_QUEUE_LIMIT: wholeNumber(1, 1_000_000).default(2_000),
  POD_WATCH_DELIVERY_ATTEMPTS: wholeNumber(1, 100).default(5),

  // Acting on a warning (the extend function): links are only issued when ACTION_BASE_URL, the
  // public URL of the extend function, is set; the signing key comes from the secret file
  // action-signing-key. Policy bounds every extension; the capacity rule refuses one while
  // reservations for the same GPU type are queued.
  ACTION_BASE_URL: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  ACTION_SIGNING_KEY: z
    .string()
    .min(32, 'must be at least 32 characters')
    .max(4096, 'must be at most 4096 characters')
    .optional(),
  ACTION_LINK_TTL_MINUTES: wholeNumber(1, 10_080).default(60),
  EXTEND_DEFAULT_MINUTES: wholeNumber(1, 10_080).default(120),
  EXTEND_MAX_MINUTES: wholeNumber(1, 10_080).default(480),
  EXTEND_MAX_COUNT: wholeNumber(0, 1000).default(5),
  RESERVATION_MAX_LIFETIME_HOURS: wholeNumber(1, 8760).default(72),
  EXTEND_CAPACITY_RULE: bool.default(true),
  // Slack's signing secret (secret file slack-signing-secret): the interactive endpoint is off without it.
  SLACK_SIGNING_SECRET: z
    .string()
    .min(8, 'must be at least 8 characters')
    .max(256, 'must be at most 256 characters')
    .optional(),

  // Safety rails (shared/runtime/rails): a function may take at most max(BREAKER_MIN_ACTIONS,
  // BREAKER_FLEET_PERCENT of the live fleet) destructive actions in BREAKER_WINDOW_MINUTES, this
  // run included, before its runs halt and wait for an operator's override; destructive actions
  // are refused while the function's clock and the database's differ by more than
  // CLOCK_SKEW_MAX_SECONDS; SHADOW_FUNCTIONS decide and record without acting.
  BREAKER_MIN_ACTIONS: wholeNumber(1, 100_000).default(20),
  BREAKER_FLEET_PERCENT: wholeNumber(1, 100).default(20),
  BREAKER_WINDOW_MINUTES: wholeNumber(1, 1440).default(10),
  // 0 turns clock sanity off: only for a harness whose clock keeps its own time on purpose.
  CLOCK_SKEW_MAX_SECONDS: wholeNumber(0, 3600).default(30),
  SHADOW_FUNCTIONS: z
    .string()
    .default('')
    .transform((raw, ctx) => {
      const names = raw
        .split(',')
        .map((name) => name.trim())
        .filter((name) => name !== '');
      const unknown = names.filter((name) => !(FUNCTION_NAMES as readonly string[]).includes(name));
      if (unknown.length > 0) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown function(s) ${unknown.join(', ')}; one of ${FUNCTION_NAMES.join(', ')}`,
        });
        return z.NEVER;
      }
      return names as FunctionName[];
    }),
});

export type Env = z.output<typeof EnvSchema>;

export type Config = ReturnType<typeof shapeConfig>;

export interface LoadConfigOptions {
  secretsDir?: string;
}

/**
 * Parse the configuration once. Environment variables win over secret files; unknown variables
 * are ignored (the process environment holds many). Throws Invalid naming every bad variable.
 */
export function loadConfig(env: Record<string, string | undefined>, options: LoadConfigOptions = {}): Config {
  const secretsDir = env.SECRETS_DIR ?? options.secretsDir ?? DEFAULT_SECRETS_DIR;
  const known = Object.keys(EnvSchema.shape);
  const merged = { ...readSecretFiles(secretsDir, known), ...pickDefined(env, known) };
  const parsed = EnvSchema.safeParse(merged);
  const issues = [
    ...(parsed.success
      ? []
      : parsed.error.issues.map((issue) => ({ field: String(issue.path[0] ?? '(config)'), message: issue.message }))),
    ...crossFieldIssues(merged),
  ];
  if (!parsed.success || issues.length > 0) {
    const detail = issues.map((issue) => `${issue.field}: ${issue.message}`).join('; ');
    throw new Invalid(`Invalid configuration: ${detail}`, issues);
  }
  return shapeConfig(parsed.data);
}

/** Rules spanning variables, checked on the raw values so they are reported with all the others. */
function crossFieldIssues(raw: Record<string, string>): InvalidIssue[] {
  const issues: InvalidIssue[] = [];
  const add = (field: string, message: string) => issues.push({ field, message });
  if (raw.DATABASE_URL === undefined && raw.POSTGRES_PASSWORD === undefined) {
    add(
      'POSTGRES_PASSWORD',
      `required when DATABASE_URL is not set (env or secret file ${secretFileName('POSTGRES_PASSWORD')})`,
    );
  }
  if (raw.KUBE_API_SERVER !== undefined && raw.KUBECONFIG !== undefined) {
    add('KUBE_API_SERVER', 'set either KUBE_API_SERVER or KUBECONFIG, not both');
  }
  if ((raw.AWS_ACCESS_KEY_ID === undefined) !== (raw.AWS_SECRET_ACCESS_KEY === undefined)) {
    add('AWS_SECRET_ACCESS_KEY', 'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together');
  }
  if (raw.EVENT_DELIVERY === 'knative' && raw.K_SINK === undefined) {
    add('K_SINK', 'required when EVENT_DELIVERY=knative (set by a SinkBinding)');
  }
  if (raw.ACTION_BASE_URL !== undefined && raw.ACTION_SIGNING_KEY === undefined) {
    add(
      'ACTION_SIGNING_KEY',
      `required when ACTION_BASE_URL is set (env or secret file ${secretFileName('ACTION_SIGNING_KEY')})`,
    );
  }
  if (Number(raw.EXTEND_DEFAULT_MINUTES ?? 120) > Number(raw.EXTEND_MAX_MINUTES ?? 480)) {
    add('EXTEND_DEFAULT_MINUTES', 'must not exceed EXTEND_MAX_MINUTES');
  }
  return issues;
}

function pickDefined(env: Record<string, string | undefined>, keys: string[]): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const key of keys) {
    const value = env[key];
    if (value !== undefined && value !== '') picked[key] = value;
  }
  return picked;
}

function shapeConfig(env: Env) {
  return {
    database: databaseSettings(env),
    logLevel: env.LOG_LEVEL,
    logHashSalt: env.LOG_HASH_SALT,
    kube: kubeSettings(env),
    aws: {
      region: env.AWS_REGION,
      endpoint: env.AWS_ENDPOINT_URL,
      credentials:
        env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
          ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY }
          : undefined,
      requestTimeoutMs: env.AWS_REQUEST_TIMEOUT_MS,
      availabilityUpdaterFunctionName: env.AVAILABILITY_UPDATER_FUNCTION_NAME,
    },
    policy: policySettings(env),
    run: {
      maxItems: env.MAX_ITEMS,
      budgetSeconds: env.RUN_BUDGET_SECONDS,
      concurrency: env.CONCURRENCY,
      paused: env.LIFECYCLE_PAUSED,
    },
    warn: { concurrency: env.WARN_CONCURRENCY },
    webhook: env.WEBHOOK_URL
      ? { url: env.WEBHOOK_URL, timeoutMs: env.WEBHOOK_TIMEOUT_MS, format: env.WARN_WEBHOOK_FORMAT }
      : undefined,
    events: eventSettings(env),
    actions: actionSettings(env),
    rails: {
      breakerMinActions: env.BREAKER_MIN_ACTIONS,
      breakerFleetPercent: env.BREAKER_FLEET_PERCENT,
      breakerWindowMinutes: env.BREAKER_WINDOW_MINUTES,
      clockSkewMaxSeconds: env.CLOCK_SKEW_MAX_SECONDS,
      shadowFunctions: env.SHADOW_FUNCTIONS,
    },
  };
}

type KubeEnv = Pick<
  Env,
  | 'KUBECONFIG'
  | 'KUBE_API_SERVER'
  | 'KUBE_TOKEN'
  | 'KUBERNETES_SERVICE_HOST'
  | 'KUBE_REQUEST_TIMEOUT_MS'
  | 'EXEC_TIMEOUT_SECONDS'
>;

export function kubeSettings(env: KubeEnv) {
  return {
    kubeconfigPath: env.KUBECONFIG,
    server: env.KUBE_API_SERVER,
    token: env.KUBE_TOKEN,
    inCluster:
      env.KUBERNETES_SERVICE_HOST !== undefined && env.KUBECONFIG === undefined && env.KUBE_API_SERVER === undefined,
    requestTimeoutMs: env.KUBE_REQUEST_TIMEOUT_MS,
    execTimeoutMs: env.EXEC_TIMEOUT_SECONDS * 1000,
  };
}

type DatabaseEnv = Pick<
  Env,
  | 'DATABASE_URL'
  | 'POSTGRES_HOST'
  | 'POSTGRES_PORT'
  | 'POSTGRES_USER'
  | 'POSTGRES_PASSWORD'
  | 'POSTGRES_DB'
  | 'POSTGRES_SSLMODE'
  | 'DB_POOL_MAX'
  | 'DB_STATEMENT_TIMEOUT_MS'
  | 'DB_LOCK_TIMEOUT_MS'
>;

export function databaseSettings(env: DatabaseEnv) {
  const connection = env.DATABASE_URL
    ? { connectionString: env.DATABASE_URL }
    : {
        host: env.POSTGRES_HOST,
        port: env.POSTGRES_PORT,
        user: env.POSTGRES_USER,
        password: env.POSTGRES_PASSWORD,
        database: env.POSTGRES_DB,
      };
  return {
    ...connection,
    ssl: env.POSTGRES_SSLMODE,
    poolMax: env.DB_POOL_MAX,
    statementTimeoutMs: env.DB_STATEMENT_TIMEOUT_MS,
    lockTimeoutMs: env.DB_LOCK_TIMEOUT_MS,
  };
}

function policySettings(env: Env) {
  return {
    reservationNamespace: env.RESERVATION_NAMESPACE,
    mainContainer: env.MAIN_CONTAINER,
    labNamespace: env.LAB_NAMESPACE,
    reservationLabel: env.RESERVATION_LABEL,
    labLabel: env.LAB_LABEL,
    podCheckBatch: env.POD_CHECK_BATCH,
    oomScanPageSize: env.OOM_SCAN_PAGE_SIZE,
    oomScanPagesPerRun: env.OOM_SCAN_PAGES_PER_RUN,
    warningMinutes: env.WARNING_MINUTES,
    gracePeriodSeconds: env.GRACE_PERIOD_SECONDS,
    launchGraceMinutes: env.LAUNCH_GRACE_MINUTES,
    podAbsentConfirmSeconds: env.POD_ABSENT_CONFIRM_SECONDS,
    preparingTimeoutMinutes: env.PREPARING_TIMEOUT_MINUTES,
    queueTimeoutHours: env.QUEUE_TIMEOUT_HOURS,
    podDeleteGraceSeconds: env.POD_DELETE_GRACE_SECONDS,
    teardownEscalateMinutes: env.TEARDOWN_ESCALATE_MINUTES,
    snapshotRetentionCount: env.SNAPSHOT_RETENTION_COUNT,
    snapshotDeleteBudget: env.SNAPSHOT_DELETE_BUDGET,
    deleteVolumeAfterSnapshot: env.DELETE_VOLUME_AFTER_SNAPSHOT,
    snapshotWaitEscalateMinutes: env.SNAPSHOT_WAIT_ESCALATE_MINUTES,
    watchdogOlderThanMinutes: env.WATCHDOG_OLDER_THAN_MINUTES,
    watchdogMaxLabs: env.WATCHDOG_MAX_LABS,
    watchdogAction: env.WATCHDOG_ACTION,
    watchdogUnknownAttemptsAlert: env.WATCHDOG_UNKNOWN_ATTEMPTS_ALERT,
    labLeaseSeconds: env.LAB_LEASE_SECONDS,
    evidenceRetentionHours: env.EVIDENCE_RETENTION_HOURS,
  };
}

function actionSettings(env: Env) {
  return {
    baseUrl: env.ACTION_BASE_URL,
    signingKey: env.ACTION_SIGNING_KEY,
    linkTtlMinutes: env.ACTION_LINK_TTL_MINUTES,
    defaultExtendMinutes: env.EXTEND_DEFAULT_MINUTES,
    maxExtendMinutes: env.EXTEND_MAX_MINUTES,
    maxExtensions: env.EXTEND_MAX_COUNT,
    maxLifetimeHours: env.RESERVATION_MAX_LIFETIME_HOURS,
    capacityRule: env.EXTEND_CAPACITY_RULE,
    slackSigningSecret: env.SLACK_SIGNING_SECRET,
  };
}

export type ActionSettings = ReturnType<typeof actionSettings>;

function eventSettings(env: Env) {
  const mode = env.EVENT_DELIVERY === 'auto' ? (env.K_SINK ? 'knative' : 'openfaas') : env.EVENT_DELIVERY;
  return {
    mode,
    sinkUrl: env.K_SINK,
    gatewayUrl: env.OPENFAAS_GATEWAY_URL,
    bodyLimitBytes: env.EVENT_BODY_LIMIT_BYTES,
    maxAttempts: env.EVENT_MAX_ATTEMPTS,
  };
}

/** The process environment, for entry points only: everything else receives a parsed Config. */
export function processEnvironment(): Record<string, string | undefined> {
  return { ...process.env };
}

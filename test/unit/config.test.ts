import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EnvSchema, loadConfig } from '../../shared/config.js';
import { Invalid } from '../../shared/errors.js';

const noSecrets = join(tmpdir(), 'devenv-lifecycle-no-secrets-here');
const minimal = { DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db' };
const load = (env: Record<string, string | undefined>, secretsDir = noSecrets) => loadConfig(env, { secretsDir });

function errorOf(env: Record<string, string | undefined>): Invalid {
  try {
    load(env);
  } catch (err) {
    if (err instanceof Invalid) return err;
    throw err;
  }
  throw new Error('expected the configuration to be rejected');
}

describe('loadConfig defaults', () => {
  it('uses the origin defaults', () => {
    const config = load(minimal);
    expect(config.policy).toMatchObject({
      warningMinutes: [30, 15, 5],
      gracePeriodSeconds: 120,
      launchGraceMinutes: 10,
      preparingTimeoutMinutes: 60,
      queueTimeoutHours: 48,
      podDeleteGraceSeconds: 30,
      snapshotRetentionCount: 3,
      snapshotDeleteBudget: 10,
      deleteVolumeAfterSnapshot: true,
      watchdogOlderThanMinutes: 30,
      watchdogMaxLabs: 20,
      watchdogAction: 'force',
      evidenceRetentionHours: 24,
      reservationNamespace: 'gpu-dev',
      mainContainer: 'gpu-dev',
    });
    expect(config.aws.region).toBe('us-east-2');
    expect(config.aws.availabilityUpdaterFunctionName).toBeUndefined();
    expect(config.run.paused).toBe(false);
    expect(config.logLevel).toBe('info');
    expect(config.database).toMatchObject({
      connectionString: minimal.DATABASE_URL,
      statementTimeoutMs: 15_000,
      lockTimeoutMs: 5_000,
    });
  });

  it('builds the connection from the origin POSTGRES_* variables when DATABASE_URL is absent', () => {
    const config = load({
      POSTGRES_HOST: 'db.local',
      POSTGRES_PORT: '6543',
      POSTGRES_USER: 'me',
      POSTGRES_PASSWORD: 'pw',
      POSTGRES_DB: 'lifecycle',
    });
    expect(config.database).toMatchObject({
      host: 'db.local',
      port: 6543,
      user: 'me',
      password: 'pw',
      database: 'lifecycle',
    });
    expect(config.database).not.toHaveProperty('connectionString');
  });
});

describe('loadConfig coercion', () => {
  it('reads WARNING_MINUTES as a real list, most urgent last, duplicates removed', () => {
    expect(load({ ...minimal, WARNING_MINUTES: '5, 60,15,5' }).policy.warningMinutes).toEqual([60, 15, 5]);
  });

  it('coerces numbers and booleans', () => {
    const config = load({
      ...minimal,
      GRACE_PERIOD_SECONDS: '0',
      DELETE_VOLUME_AFTER_SNAPSHOT: 'false',
      LIFECYCLE_PAUSED: '1',
    });
    expect(config.policy.gracePeriodSeconds).toBe(0);
    expect(config.policy.deleteVolumeAfterSnapshot).toBe(false);
    expect(config.run.paused).toBe(true);
  });

  it('treats empty variables as unset', () => {
    expect(load({ ...minimal, GRACE_PERIOD_SECONDS: '' }).policy.gracePeriodSeconds).toBe(120);
  });

  it('picks Knative delivery when K_SINK is set and OpenFaaS otherwise', () => {
    expect(load({ ...minimal, K_SINK: 'http://broker.local/' }).events.mode).toBe('knative');
    expect(load(minimal).events.mode).toBe('openfaas');
    expect(load({ ...minimal, EVENT_DELIVERY: 'none' }).events.mode).toBe('none');
  });

  it('detects in-cluster only when no explicit cluster is configured', () => {
    expect(load({ ...minimal, KUBERNETES_SERVICE_HOST: '10.0.0.1' }).kube.inCluster).toBe(true);
    expect(load({ ...minimal, KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBECONFIG: '/k' }).kube.inCluster).toBe(false);
  });
});

describe('loadConfig secret files', () => {
  it('reads a setting from the file named after it, without the trailing newline', () => {
    const dir = mkdtempSync(join(tmpdir(), 'secrets-'));
    writeFileSync(join(dir, 'postgres-password'), 's3cret\n');
    writeFileSync(join(dir, 'aws-access-key-id'), 'AKID');
    writeFileSync(join(dir, 'aws-secret-access-key'), 'SECRET');
    const config = load({}, dir);
    expect(config.database).toMatchObject({ password: 's3cret' });
    expect(config.aws.credentials).toEqual({ accessKeyId: 'AKID', secretAccessKey: 'SECRET' });
  });

  it('lets the environment win over a secret file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'secrets-'));
    writeFileSync(join(dir, 'postgres-password'), 'from-file');
    expect(load({ POSTGRES_PASSWORD: 'from-env' }, dir).database).toMatchObject({ password: 'from-env' });
  });

  it('honours SECRETS_DIR', () => {
    const dir = mkdtempSync(join(tmpdir(), 'secrets-'));
    writeFileSync(join(dir, 'database-url'), 'postgres://x:y@127.0.0.1/z');
    expect(loadConfig({ SECRETS_DIR: dir }).database).toMatchObject({ connectionString: 'postgres://x:y@127.0.0.1/z' });
  });
});

describe('loadConfig errors name the variable', () => {
  it.each([
    [{ WARNING_MINUTES: '30,abc' }, 'WARNING_MINUTES'],
    [{ WARNING_MINUTES: '30,-5' }, 'WARNING_MINUTES'],
    [{ GRACE_PERIOD_SECONDS: '-1' }, 'GRACE_PERIOD_SECONDS'],
    [{ SNAPSHOT_RETENTION_COUNT: '0' }, 'SNAPSHOT_RETENTION_COUNT'],
    [{ MAX_ITEMS: '2.5' }, 'MAX_ITEMS'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ DELETE_VOLUME_AFTER_SNAPSHOT: 'maybe' }, 'DELETE_VOLUME_AFTER_SNAPSHOT'],
    [{ WATCHDOG_ACTION: 'explode' }, 'WATCHDOG_ACTION'],
    [{ WEBHOOK_URL: 'not a url' }, 'WEBHOOK_URL'],
    [{ POSTGRES_PORT: '70000' }, 'POSTGRES_PORT'],
    [{ EVENT_DELIVERY: 'knative' }, 'K_SINK'],
    [{ AWS_ACCESS_KEY_ID: 'AKID' }, 'AWS_SECRET_ACCESS_KEY'],
    [{ KUBECONFIG: '/k', KUBE_API_SERVER: 'http://127.0.0.1:1' }, 'KUBE_API_SERVER'],
  ])('rejects %j naming %s', (override, variable) => {
    const err = errorOf({ ...minimal, ...override });
    expect(err.message).toContain(`${variable}:`);
    expect(err.issues.map((issue) => issue.field)).toContain(variable);
  });

  it('requires a password when no DATABASE_URL is given', () => {
    expect(errorOf({}).message).toMatch(/POSTGRES_PASSWORD: required when DATABASE_URL is not set/);
  });

  it('names every offending variable in one message', () => {
    const err = errorOf({ GRACE_PERIOD_SECONDS: 'soon', LOG_LEVEL: 'loud' });
    expect(err.issues.map((issue) => issue.field).sort()).toEqual([
      'GRACE_PERIOD_SECONDS',
      'LOG_LEVEL',
      'POSTGRES_PASSWORD',
    ]);
    expect(err.message.split('; ')).toHaveLength(3);
  });
});

describe('numeric bounds', () => {
  // Every setting the schema coerces to a number, found from the schema itself so a new one is covered.
  const numericSettings = Object.keys(EnvSchema.shape).filter((name) => {
    const refused = EnvSchema.shape[name as keyof typeof EnvSchema.shape].safeParse('not a number');
    return !refused.success && refused.error.issues.some((issue) => issue.message === 'must be a number');
  });

  it('finds the numeric settings', () => {
    expect(numericSettings).toEqual(
      expect.arrayContaining([
        'DB_STATEMENT_TIMEOUT_MS',
        'WATCHDOG_OLDER_THAN_MINUTES',
        'MAX_ITEMS',
        'EVENT_MAX_ATTEMPTS',
      ]),
    );
  });

  it('refuses an absurdly large value for every numeric setting, naming it', () => {
    const problems = numericSettings.filter(
      (name) => !errorOf({ ...minimal, [name]: '1e15' }).issues.some((issue) => issue.field === name),
    );
    expect(problems).toEqual([]);
  });

  it('accepts the largest sensible values', () => {
    const config = load({
      ...minimal,
      WATCHDOG_OLDER_THAN_MINUTES: '525600',
      MAX_ITEMS: '10000',
      EVENT_MAX_ATTEMPTS: '1000',
      WARNING_MINUTES: '10080,5',
    });
    expect(config.run.maxItems).toBe(10_000);
    expect(config.events.maxAttempts).toBe(1000);
    expect(config.policy.warningMinutes).toEqual([10_080, 5]);
  });

  it('refuses a warning level longer than a week', () => {
    expect(errorOf({ ...minimal, WARNING_MINUTES: '30,20000' }).issues.map((issue) => issue.field)).toEqual([
      'WARNING_MINUTES',
    ]);
  });

  it('dead-letters after 30 delivery attempts unless told otherwise', () => {
    expect(load(minimal).events.maxAttempts).toBe(30);
  });
});

/*
 * What the manifests hand the functions: every variable is a setting the code knows (or the
 * template's own), every secret the code reads is declared in the secret templates and never set
 * in clear, the configuration each function would load at start-up parses, and the timeouts
 * chain so a run ends on its own budget before the watchdog, the gateway or Knative give up.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { durationSeconds, readStack } from '../../build/stack.js';
import { loadPodWatchConfig } from '../../pod-watch/config.js';
import { secretFileName } from '../../shared/config-secrets.js';
import { EnvSchema, loadConfig } from '../../shared/config.js';
import { FUNCTION_NAMES } from '../../shared/runtime/invocation.js';
import { ofKind, readObjects } from './manifests.js';

const root = process.cwd();
const objects = readObjects(root);
const stack = readStack(root);
const functions = stack.functions.filter((fn) => (FUNCTION_NAMES as readonly string[]).includes(fn.name));
const settings = new Set(Object.keys(EnvSchema.shape));
// Read by the node22 template and of-watchdog, or by node itself (NODE_OPTIONS), not by our code.
const TEMPLATE_VARIABLES = new Set([
  'RAW_BODY',
  'MAX_RAW_SIZE',
  'exec_timeout',
  'read_timeout',
  'write_timeout',
  'NODE_OPTIONS',
]);
// Settings that are credentials: only ever from a secret file, never in a manifest in clear.
const SECRET_SETTINGS = [
  'POSTGRES_PASSWORD',
  'DATABASE_URL',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'WEBHOOK_URL',
  'KUBE_TOKEN',
  'ACTION_SIGNING_KEY',
  'SLACK_SIGNING_SECRET',
];
const IN_CLUSTER = { KUBERNETES_SERVICE_HOST: '10.96.0.1' };

interface Container {
  env?: { name: string; value?: string }[];
  envFrom?: { configMapRef: { name: string } }[];
}
const services = ofKind<{
  spec: {
    template: {
      spec: {
        timeoutSeconds: number;
        containers: Container[];
        volumes: { name: string; projected?: { sources: { secret: { name: string } }[] } }[];
      };
    };
  };
}>(objects, 'Service').filter((o) => o.apiVersion === 'serving.knative.dev/v1');
const configMap = ofKind<{ data: Record<string, string> }>(objects, 'ConfigMap')[0]!;
const podWatchDeployment = ofKind<{ spec: { template: { spec: { containers: Container[] } } } }>(
  objects,
  'Deployment',
).find((o) => o.file === 'k8s/openfaas/pod-watch.yaml')!;

/** Secret keys in a template, present or shown commented out as optional (`# key: REPLACE_…`). */
function templateKeys(file: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  for (const block of readFileSync(file, 'utf8').split(/^---$/m)) {
    const name = /^kind: Secret\n(?:.*\n)*?\s+name: (\S+)/m.exec(block)?.[1];
    if (name)
      keys.set(
        name,
        [...block.matchAll(/^\s+#?\s*([a-z0-9-]+): REPLACE_/gm)].map((m) => m[1]!),
      );
  }
  return keys;
}

const folders: string[] = [];
afterAll(() => folders.forEach((folder) => rmSync(folder, { recursive: true, force: true })));

/** A secrets folder as the platform mounts it, with a usable value for each key. */
function mountedSecrets(keys: string[]): string {
  const folder = mkdtempSync(join(tmpdir(), 'devenv-secrets-'));
  folders.push(folder);
  // A signing key must be at least 32 characters.
  for (const key of keys)
    writeFileSync(
      join(folder, key),
      key.endsWith('-url')
        ? 'https://hooks.example.com/x\n'
        : key.endsWith('-key')
          ? `${'placeholder'.repeat(3)}\n`
          : 'placeholder\n',
    );
  return folder;
}

describe.each([
  { platform: 'OpenFaaS', file: 'k8s/openfaas/secrets.yaml' },
  { platform: 'Knative', file: 'k8s/knative/secrets.yaml' },
])('$platform secret template', ({ file }) => {
  const keys = templateKeys(file);

  it('declares a key for every credential the code reads, named as the code reads it, with no real value', () => {
    const declared = [...keys.values()].flat();
    expect(declared.sort()).toEqual(
      SECRET_SETTINGS.filter((s) => s !== 'DATABASE_URL' && s !== 'KUBE_TOKEN')
        .map(secretFileName)
        .sort(),
    );
    for (const key of declared) expect(settings.has(key.toUpperCase().replaceAll('-', '_')), key).toBe(true);
    for (const doc of readObjects(root).filter((o) => o.file === file)) {
      for (const value of Object.values((doc.stringData ?? {}) as Record<string, string>))
        expect(value).toMatch(/^REPLACE_WITH_/);
      expect(doc.data).toBeUndefined();
    }
  });

  it('holds every secret a function mounts', () => {
    const mounted = new Set(functions.flatMap((fn) => fn.secrets));
    expect([...mounted].filter((name) => !keys.has(name))).toEqual([]);
  });
});

describe.each(functions.map((fn) => [fn.name, fn] as const))('%s settings', (name, fn) => {
  const service = services.find((s) => s.metadata.name === name)!.spec.template.spec;
  const container = service.containers[0]!;
  const secretKeys = (secrets: string[], file: string) =>
    secrets.flatMap((secret) => templateKeys(file).get(secret) ?? []);
  const knativeEnv = {
    ...configMap.data,
    ...Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value ?? ''])),
  };

  it('sets only variables the code or the template reads, and no credential in clear', () => {
    for (const env of [fn.environment, knativeEnv]) {
      for (const key of Object.keys(env))
        expect(settings.has(key) || TEMPLATE_VARIABLES.has(key), `${name}: ${key}`).toBe(true);
      for (const secret of SECRET_SETTINGS) expect(env, secret).not.toHaveProperty(secret);
    }
  });

  it('loads its configuration on OpenFaaS from stack.yml and its mounted secrets', () => {
    const secretsDir = mountedSecrets(secretKeys(fn.secrets, 'k8s/openfaas/secrets.yaml'));
    const config = loadConfig({ ...fn.environment, ...IN_CLUSTER }, { secretsDir });
    expect(config.events.mode).toBe('openfaas');
    expect(config.kube.inCluster).toBe(true);
    expect(() => loadConfig({ ...fn.environment, ...IN_CLUSTER }, { secretsDir: mountedSecrets([]) })).toThrow(
      /POSTGRES_PASSWORD/,
    );
  });

  it('loads its configuration on Knative from the settings, its env, its secrets and the K_SINK the SinkBinding injects', () => {
    const projected = service.volumes.find((v) => v.name === 'secrets')!.projected!.sources.map((s) => s.secret.name);
    const secretsDir = mountedSecrets(secretKeys(projected, 'k8s/knative/secrets.yaml'));
    const config = loadConfig(
      {
        ...knativeEnv,
        ...IN_CLUSTER,
        K_SINK: 'http://broker-ingress.knative-eventing.svc.cluster.local/devenv-lifecycle/devenv-lifecycle',
      },
      { secretsDir },
    );
    expect(config.events.mode).toBe('knative');
    expect(container.envFrom).toEqual([{ configMapRef: { name: configMap.metadata.name } }]);
  });

  it('chains its timeouts: run budget < exec_timeout < read/write_timeout, and the platform waits long enough', () => {
    const env = fn.environment;
    const exec = durationSeconds(env.exec_timeout!);
    expect(Number(env.RUN_BUDGET_SECONDS)).toBeLessThan(exec);
    expect(durationSeconds(env.read_timeout!)).toBeGreaterThan(exec);
    expect(durationSeconds(env.write_timeout!)).toBeGreaterThan(exec);
    const values = parse(readFileSync('k8s/openfaas/openfaas-values.yaml', 'utf8')) as {
      gateway: Record<string, string>;
      queueWorker: { ackWait: string };
    };
    const upstream = durationSeconds(values.gateway.upstreamTimeout!);
    expect(exec).toBeLessThanOrEqual(upstream);
    expect(durationSeconds(values.gateway.readTimeout!)).toBeGreaterThan(upstream);
    expect(durationSeconds(values.gateway.writeTimeout!)).toBeGreaterThan(upstream);
    expect(durationSeconds(values.queueWorker.ackWait)).toBeGreaterThanOrEqual(exec);
    expect(service.timeoutSeconds).toBeGreaterThanOrEqual(exec);
  });
});

describe('pod-watch settings', () => {
  it('load from stack.yml (beside the watchdog ports) and from its Deployment', () => {
    const fromStack = loadPodWatchConfig({
      ...stack.functions.find((fn) => fn.name === 'pod-watch')!.environment,
      ...IN_CLUSTER,
    });
    expect([8080, 8081]).not.toContain(fromStack.port);
    const env = Object.fromEntries(
      (podWatchDeployment.spec.template.spec.containers[0]!.env ?? []).map((e) => [e.name, e.value]),
    );
    expect(loadPodWatchConfig({ ...env, ...IN_CLUSTER }).namespaces).toEqual(fromStack.namespaces);
  });
});

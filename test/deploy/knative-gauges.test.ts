/*
 * The fleet gauges on every platform. On Knative (no pod-watch: an ApiServerSource delivers pod
 * changes) an always-on Deployment runs pod-watch's image in its gauges-only mode, with no
 * Kubernetes API access, only the database; stack.yml's pod-watch gets the database password
 * the way the functions do (the devenv-lifecycle-db secret mounted under /var/openfaas/secrets).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { readStack } from '../../build/stack.js';
import { loadPodWatchConfig } from '../../pod-watch/config.js';
import { startPodWatch } from '../../pod-watch/run.js';
import { createLogger } from '../../shared/log.js';
import { Invalid } from '../../shared/errors.js';
import { useTestDatabase } from '../support/database.js';
import { insertReservation } from '../support/fixtures.js';
import { readObjects } from './manifests.js';

const db = useTestDatabase();
const root = process.cwd();
const objects = readObjects(root);
const secrets = mkdtempSync(join(tmpdir(), 'gauges-secrets-'));
writeFileSync(join(secrets, 'postgres-password'), 'from-the-secret-file\n');
afterAll(() => rmSync(secrets, { recursive: true, force: true }));

interface Container {
  image: string;
  command: string[];
  env: { name: string; value: string }[];
  envFrom: { configMapRef: { name: string } }[];
  volumeMounts: { name: string; mountPath: string }[];
}
interface Workload {
  kind: string;
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  automountServiceAccountToken?: boolean;
  spec: {
    replicas: number;
    template: {
      metadata: { annotations: Record<string, string> };
      spec: {
        serviceAccountName: string;
        automountServiceAccountToken: boolean;
        containers: Container[];
        volumes: { name: string; projected?: { sources: { secret: { name: string } }[] } }[];
      };
    };
  };
}

const gauges = parseAllDocuments(readFileSync('k8s/knative/gauges.yaml', 'utf8')).map((d) => d.toJSON() as Workload);
const deployment = gauges.find((o) => o.kind === 'Deployment')!;
const container = deployment.spec.template.spec.containers[0]!;
const settings = (
  parseAllDocuments(readFileSync('k8s/knative/settings.yaml', 'utf8'))[0]!.toJSON() as { data: Record<string, string> }
).data;
const podWatchEntry = readStack(root).functions.find((fn) => fn.name === 'pod-watch')!;

/** What the container sees: the settings ConfigMap, its own env, the secret mounted as files. */
const containerEnv = () => ({
  ...settings,
  ...Object.fromEntries(container.env.map((v) => [v.name, v.value])),
  SECRETS_DIR: secrets,
});

describe('the fleet gauges on Knative', () => {
  it("run always on, one replica of pod-watch's image in gauges-only mode, scraped like pod-watch", () => {
    expect(deployment.metadata.namespace).toBe('devenv-lifecycle');
    expect(deployment.spec.replicas).toBe(1);
    expect(container.image).toBe(podWatchEntry.image);
    expect(container.command).toEqual(['node', 'function/handler.js']);
    expect(container.env).toContainEqual({ name: 'POD_WATCH_MODE', value: 'gauges' });
    expect(container.envFrom).toEqual([{ configMapRef: { name: 'devenv-lifecycle-settings' } }]);
    expect(deployment.spec.template.metadata.annotations).toEqual({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '8080',
      'prometheus.io/path': '/metrics',
    });
    const kustomization = readFileSync('k8s/knative/kustomization.yaml', 'utf8');
    expect(kustomization).toMatch(/^ {2}- gauges\.yaml$/m);
  });

  it('have no Kubernetes API access: no token mounted and nothing bound to their ServiceAccount', () => {
    const account = gauges.find((o) => o.kind === 'ServiceAccount')!;
    expect(deployment.spec.template.spec.serviceAccountName).toBe(account.metadata.name);
    expect(account.automountServiceAccountToken).toBe(false);
    expect(deployment.spec.template.spec.automountServiceAccountToken).toBe(false);
    const bindings = objects.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding') as unknown as {
      subjects?: { name: string }[];
    }[];
    expect(bindings.filter((b) => b.subjects?.some((s) => s.name === account.metadata.name))).toEqual([]);
    expect(deployment.spec.template.spec.volumes.find((v) => v.name === 'secrets')?.projected?.sources).toEqual([
      { secret: { name: 'devenv-lifecycle-db' } },
    ]);
    expect(container.volumeMounts).toContainEqual(
      expect.objectContaining({ name: 'secrets', mountPath: '/var/openfaas/secrets' }),
    );
  });

  it('read the database password from the mounted secret, and refuse to start without one', () => {
    const config = loadPodWatchConfig(containerEnv());
    expect(config.mode).toBe('gauges');
    expect(config.database).toMatchObject({
      host: settings.POSTGRES_HOST,
      user: settings.POSTGRES_USER,
      password: 'from-the-secret-file',
    });
    expect(() => loadPodWatchConfig({ ...containerEnv(), SECRETS_DIR: join(secrets, 'absent') })).toThrow(Invalid);
  });

  it('serve the gauges from the database without ever calling the Kubernetes API', async () => {
    let kubeCalls = 0;
    const kube = createServer((_req, res) => {
      kubeCalls += 1;
      res.writeHead(500).end();
    });
    await new Promise<void>((resolve) => kube.listen(0, '127.0.0.1', resolve));
    await insertReservation(db.pool, { reservation_id: 'kg000001', expires_at: new Date(Date.now() + 3_600_000) });
    const config = loadPodWatchConfig({
      ...containerEnv(),
      DATABASE_URL: db.url,
      POD_WATCH_PORT: '0',
      KUBE_API_SERVER: `http://127.0.0.1:${(kube.address() as AddressInfo).port}`,
      KUBE_TOKEN: 't',
    });
    const silent = createLogger({ level: 'silent', hashSalt: 's' });
    const watch = await startPodWatch(config, { host: '127.0.0.1', log: silent });
    try {
      expect((await fetch(`${watch.health.url}/readyz`)).status).toBe(200);
      const metrics = await (await fetch(`${watch.health.url}/metrics`)).text();
      expect(metrics).toMatch(/^devenv_lifecycle_fleet_up 1$/m);
      expect(metrics).toMatch(/^devenv_lifecycle_fleet_reservations\{status="active"\} 1$/m);
      expect(kubeCalls).toBe(0);
    } finally {
      await watch.stop(1_000);
      await new Promise((resolve) => kube.close(resolve));
    }
  });
});

describe("stack.yml's pod-watch", () => {
  it("gets the functions' database settings and the devenv-lifecycle-db secret, and reads the password from it", () => {
    expect(podWatchEntry.secrets).toContain('devenv-lifecycle-db');
    const config = loadPodWatchConfig({
      ...podWatchEntry.environment,
      SECRETS_DIR: secrets,
      KUBERNETES_SERVICE_HOST: '10.96.0.1',
    });
    expect(config.mode).toBe('watch');
    expect(config.database).toMatchObject({
      host: 'postgres-primary.controlplane.svc.cluster.local',
      user: 'gpudev',
      password: 'from-the-secret-file',
    });
  });
});

/*
 * The pod-watch bundle on both routes: run directly (`node function/handler.js`, the Deployment in
 * k8s/openfaas/pod-watch.yaml) and loaded by the template (stack.yml's one-replica entry). Either
 * way it watches the simulated cluster and hands a reservation pod's change to each consumer's
 * /async-function on the gateway it is given. Given a database, the bundle also serves the fleet
 * gauges and GET /why/<id>; the Deployment's settings give it the functions' own policy.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPodWatchConfig } from '../../pod-watch/config.js';
import { loadConfig } from '../../shared/config.js';
import { useTestDatabase } from '../support/database.js';
import { freePort } from '../../local/free-port.js';
import { startSim } from '../../sim/server.js';
import type { Sim } from '../../sim/server.js';
import { simProductEnv } from '../../sim/product-env.js';
import { spawnTracked } from '../support/processes.js';
import { buildBundles, hostBundle } from './hosted-bundles.js';
import type { BuiltBundles, HostedFunction } from './hosted-bundles.js';

const db = useTestDatabase();
let sim: Sim;
let built: BuiltBundles;
let gateway: Server;
const received: { path: string; type: string; subject: string }[] = [];

beforeAll(async () => {
  [sim, built] = await Promise.all([startSim(), buildBundles(['pod-watch'])]);
  gateway = createServer((req, res) => {
    req.resume().on('end', () => {
      received.push({
        path: req.url ?? '',
        type: String(req.headers['ce-type']),
        subject: String(req.headers['ce-subject']),
      });
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
}, 60_000);

afterAll(async () => {
  await new Promise((resolve) => gateway?.close(resolve));
  await sim?.close();
  await built?.remove();
});

async function env(port: number) {
  return {
    ...simProductEnv(sim),
    POD_WATCH_NAMESPACES: 'gpu-dev',
    POD_WATCH_PORT: String(port),
    OPENFAAS_GATEWAY_URL: `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`,
    LOG_LEVEL: 'error',
  };
}

async function until<T>(probe: () => Promise<T | undefined>, what: string): Promise<T> {
  // Bounded by time, generously: the bundle starts in seconds on a loaded machine, not in a count of polls.
  for (const deadline = Date.now() + 40_000; Date.now() < deadline;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const ready = (port: number) =>
  until(async () => ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok ? true : undefined), 'readiness');

async function expectChangeDelivered(podName: string): Promise<void> {
  sim.kube.addPod({ name: podName, namespace: 'gpu-dev', labels: { 'reservation-id': `${podName}-id` } });
  const paths = await until(async () => {
    const seen = received
      .filter((r) => r.subject.endsWith(`/pods/${podName}`))
      .map((r) => r.path)
      .sort();
    return seen.length >= 2 ? seen : undefined;
  }, `the change of ${podName}`);
  expect(paths).toEqual(['/async-function/expire', '/async-function/oom-scan']);
  expect(received.find((r) => r.subject.endsWith(`/pods/${podName}`))!.type).toBe('dev.knative.apiserver.resource.add');
}

describe('pod-watch bundle', () => {
  it('runs on its own, as the Deployment starts it, and delivers pod changes to both consumers', async () => {
    const port = await freePort();
    const child = spawnTracked(process.execPath, [built.bundles[0]!.file], {
      env: { PATH: process.env.PATH ?? '', ...(await env(port)) },
      stdio: 'ignore',
    });
    try {
      await ready(port);
      await expectChangeDelivered('gpu-dev-direct01');
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }, 60_000);

  it('runs inside the template as a stack.yml entry, refuses invocations and still delivers', async () => {
    const port = await freePort();
    let hosted: HostedFunction | undefined;
    try {
      hosted = hostBundle(built.host, built.bundles[0]!, await freePort(), await env(port));
      await ready(port);
      const invoked = await fetch(`${hosted.url}/`, { method: 'POST', body: '{}' });
      expect(invoked.status).toBe(404);
      expect(await invoked.json()).toMatchObject({ title: 'pod-watch is an event source' });
      await expectChangeDelivered('gpu-dev-hosted01');
    } finally {
      await hosted?.stop();
    }
  }, 60_000);
});

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } };
}

describe('pod-watch fleet gauges and /why', () => {
  it('the bundle, given a database, serves the fleet gauges on /metrics and answers /why/<id>', async () => {
    const port = await freePort();
    const child = spawnTracked(process.execPath, [built.bundles[0]!.file], {
      env: { PATH: process.env.PATH ?? '', ...(await env(port)), DATABASE_URL: db.url },
      stdio: 'ignore',
    });
    try {
      await ready(port);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(/^devenv_lifecycle_fleet_up 1$/m);
      expect(metrics).toMatch(/^devenv_lifecycle_fleet_reservations\{status="active"\} 0$/m);
      const unknown = await fetch(`http://127.0.0.1:${port}/why/no-such-reservation`);
      expect(unknown.status).toBe(404);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }, 60_000);

  it("the Deployment reads the database password from a secret and judges 'overdue' and 'stuck' by the functions' defaults", () => {
    const deployment = parseAllDocuments(readFileSync('k8s/openfaas/pod-watch.yaml', 'utf8'))
      .map((d) => d.toJSON() as { kind: string; spec: { template: { spec: { containers: { env: EnvVar[] }[] } } } })
      .find((o) => o.kind === 'Deployment')!;
    const vars = deployment.spec.template.spec.containers[0]!.env;
    expect(vars.find((v) => v.name === 'POSTGRES_PASSWORD')?.valueFrom?.secretKeyRef).toEqual({
      name: 'devenv-lifecycle-db',
      key: 'postgres-password',
      optional: true,
    });
    const plain = Object.fromEntries(vars.filter((v) => v.value !== undefined).map((v) => [v.name, v.value]));
    const podWatch = loadPodWatchConfig({
      ...plain,
      POSTGRES_PASSWORD: 'from-the-secret',
      KUBERNETES_SERVICE_HOST: '10.96.0.1',
    });
    const functions = loadConfig({ POSTGRES_PASSWORD: 'x', SECRETS_DIR: '/nonexistent' }).policy;
    expect(podWatch.fleetPolicy).toEqual({
      graceSeconds: functions.gracePeriodSeconds,
      preparingTimeoutMinutes: functions.preparingTimeoutMinutes,
      queueTimeoutHours: functions.queueTimeoutHours,
      watchdogOlderThanMinutes: functions.watchdogOlderThanMinutes,
    });
    expect(podWatch.database).toMatchObject({
      host: 'postgres-primary.controlplane.svc.cluster.local',
      user: 'gpudev',
      password: 'from-the-secret',
      poolMax: 2,
    });
    expect(loadPodWatchConfig({ ...plain, KUBERNETES_SERVICE_HOST: '10.96.0.1' }).database).toBeUndefined(); // no secret: it watches, without gauges
  });
});

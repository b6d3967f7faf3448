/*
 * pod-watch as it is deployed: `pod-watch/main.ts` as its own process, configured only by
 * environment variables, against the simulated cluster and a recording gateway. It serves health
 * and metrics, emits changes, and on SIGTERM stops and exits 0; a watch refused for good (403)
 * ends it with status 1; bad configuration exits 2 naming the variable.
 */
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPodWatchConfig } from '../../pod-watch/config.js';
import { simProductEnv } from '../../sim/product-env.js';
import { startSim } from '../../sim/server.js';
import type { Sim } from '../../sim/server.js';
import { spawnTracked } from '../support/processes.js';

let sim: Sim;
let gateway: http.Server;
let gatewayUrl = '';
const delivered: string[] = [];

beforeAll(async () => {
  sim = await startSim();
  gateway = http.createServer((req, res) => {
    delivered.push(`${req.url} ${String(req.headers['ce-type'])}`);
    req.resume();
    req.on('end', () => res.writeHead(202).end());
  });
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
  gatewayUrl = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => gateway.close(() => resolve()));
  await sim.close();
});

function launch(env: Record<string, string>): {
  child: ChildProcess;
  exited: Promise<number | null>;
  stderr: () => string;
} {
  const child = spawnTracked(process.execPath, ['--import', 'tsx', 'pod-watch/main.ts'], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, stderr: () => stderr };
}

// The child compiles TypeScript through tsx at start: on a loaded 2-core machine that alone has
// taken over 15 s, so the wait is bounded by time, generously, not by a count of polls.
async function until(condition: () => Promise<boolean> | boolean, what: string): Promise<void> {
  for (const deadline = Date.now() + 40_000; Date.now() < deadline;) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const get = async (url: string) =>
  fetch(url).then(
    async (r) => ({ status: r.status, text: await r.text() }),
    () => ({ status: 0, text: '' }),
  );

async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('pod-watch process', () => {
  it('serves health and metrics, emits a change to both consumers, and exits 0 on SIGTERM', async () => {
    sim.kube.addPod({ name: 'gpu-dev-proc1', namespace: 'gpu-dev', labels: { 'reservation-id': 'res-proc1' } });
    const port = await freePort();
    const run = launch({
      ...simProductEnv(sim),
      OPENFAAS_GATEWAY_URL: gatewayUrl,
      POD_WATCH_NAMESPACES: 'gpu-dev',
      POD_WATCH_PORT: String(port),
    });
    await until(async () => (await get(`http://127.0.0.1:${port}/readyz`)).status === 200, 'readiness');
    expect((await get(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    await until(() => delivered.length === 2, 'the listed pod at both consumers');
    expect(delivered.sort()).toEqual([
      '/async-function/expire dev.knative.apiserver.resource.add',
      '/async-function/oom-scan dev.knative.apiserver.resource.add',
    ]);
    expect((await get(`http://127.0.0.1:${port}/metrics`)).text).toMatch(
      /devenv_lifecycle_pod_watch_deliveries_total\{consumer="oom-scan",outcome="delivered"\} 1/,
    );
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
  }, 60_000);

  it('exits 1 when the cluster refuses the watch for good, and 2 on bad configuration', async () => {
    sim.faults.add({ path: '/api/v1/namespaces/forbidden/pods', status: 403 });
    const refused = launch({
      ...simProductEnv(sim),
      OPENFAAS_GATEWAY_URL: gatewayUrl,
      POD_WATCH_NAMESPACES: 'forbidden',
      POD_WATCH_PORT: String(await freePort()),
    });
    const bad = launch({ KUBE_API_SERVER: sim.url, OPENFAAS_GATEWAY_URL: 'not a url', POD_WATCH_PORT: '70000' });
    expect(await Promise.all([refused.exited, bad.exited])).toEqual([1, 2]);
    expect(bad.stderr()).toMatch(/OPENFAAS_GATEWAY_URL.*POD_WATCH_PORT|POD_WATCH_PORT.*OPENFAAS_GATEWAY_URL/);
  }, 60_000);

  it('reads the project variables: namespaces default to RESERVATION_NAMESPACE; no database settings are needed', () => {
    const config = loadPodWatchConfig({
      KUBE_API_SERVER: 'http://127.0.0.1:1',
      RESERVATION_NAMESPACE: 'dev-envs',
      RESERVATION_LABEL: 'example.com/reservation',
    });
    expect(config).toMatchObject({
      namespaces: ['dev-envs'],
      reservationLabel: 'example.com/reservation',
      gatewayUrl: 'http://gateway.openfaas:8080',
      port: 8080,
    });
    expect(
      loadPodWatchConfig({ KUBE_API_SERVER: 'http://127.0.0.1:1', POD_WATCH_NAMESPACES: 'a, b,,' }).namespaces,
    ).toEqual(['a', 'b']);
  });
});

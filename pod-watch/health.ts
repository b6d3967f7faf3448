/*
 * pod-watch's HTTP side, for the kubelet and Prometheus: GET /healthz (alive: the watches have not
 * given up), GET /readyz (every namespace listed at least once), GET /metrics (with the fleet
 * gauges read from the database when one is configured), and GET /why/<id> for operators' tools.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Db } from '../shared/db/pool.js';
import type { Logger } from '../shared/log.js';
import type { FleetCollector } from './fleet.js';
import type { PodWatchMetrics } from './metrics.js';
import { answerWhy } from './why-http.js';
import type { Answer } from './why-http.js';

export interface HealthState {
  alive(): boolean;
  ready(): boolean;
  depth(): number;
}

/** The database side, when pod-watch has one. */
export interface OperatorReads {
  db?: Db;
  fleet?: FleetCollector;
  log?: Logger;
}

export interface HealthServer {
  url: string;
  close(): Promise<void>;
}

export async function startHealthServer(
  port: number,
  host: string,
  state: HealthState,
  metrics: PodWatchMetrics,
  reads: OperatorReads = {},
): Promise<HealthServer> {
  const server = http.createServer((req, res) => {
    // A failing scrape answers 500; it must not become an unhandled rejection that ends the process.
    const failed = { status: 500, type: 'application/json', body: JSON.stringify({ status: 'error' }) };
    void answer(req.url ?? '/', state, metrics, reads)
      .catch(() => failed)
      .then(({ status, type, body }) => {
        res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function answer(
  url: string,
  state: HealthState,
  metrics: PodWatchMetrics,
  reads: OperatorReads,
): Promise<Answer> {
  // The raw path: an id may hold an encoded slash or '?', which the URL parser would reinterpret.
  const path = url.split('?')[0]!;
  if (path.startsWith('/why/') || path === '/why') return answerWhy(reads.db, path.slice('/why/'.length), reads.log);
  const json = (ok: boolean) => ({
    status: ok ? 200 : 503,
    type: 'application/json',
    body: JSON.stringify({ status: ok ? 'ok' : 'unavailable' }),
  });
  if (path === '/healthz') return json(state.alive());
  if (path === '/readyz') return json(state.alive() && state.ready());
  if (path === '/metrics') {
    metrics.queueDepth.set(state.depth());
    await reads.fleet?.collect();
    return { status: 200, type: metrics.registry.contentType, body: await metrics.registry.metrics() };
  }
  return { status: 404, type: 'application/json', body: JSON.stringify({ status: 'not found' }) };
}

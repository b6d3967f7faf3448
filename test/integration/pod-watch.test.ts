/*
 * The pod-watch source against the simulated cluster (real client, real watch) and a recording
 * gateway: only reservation pods become events, each in the ApiServerSource shape the consumers
 * parse, sent to every consumer in the routing table; it resumes after a dropped stream and after
 * 410 Gone without losing or repeating a change, and retries refused deliveries a bounded number
 * of times.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { parseCloudEvent } from '../../shared/events/parse.js';
import { typesConsumedBy } from '../../shared/events/routing.js';
import { createKube } from '../../shared/kube/index.js';
import { createLogger } from '../../shared/log.js';
import { createPodWatchMetrics } from '../../pod-watch/metrics.js';
import type { PodWatchMetrics } from '../../pod-watch/metrics.js';
import { startPodWatchSource } from '../../pod-watch/source.js';
import type { PodWatchSource } from '../../pod-watch/source.js';
import { startSim } from '../../sim/server.js';
import type { Sim } from '../../sim/server.js';
import apiServerSourceUpdate from '../fixtures/requests/knative-apiserversource-pod-update.json' with { type: 'json' };

interface Received {
  fn: string;
  headers: Record<string, string>;
  body: string;
}

const clock = new ManualClock('2026-06-01T12:00:00Z');
const log = createLogger({
  level: 'silent',
  hashSalt: 's',
  destination: new Writable({ write: (_c, _e, done) => done() }),
});
let sim: Sim;
let gateway: http.Server;
let gatewayUrl: string;
let received: Received[];
/** Answers the gateway gives next per function, in order; 202 once they run out. */
let answers: Record<string, number[]>;
let namespace: string;
let serial = 0;
let source: PodWatchSource | undefined;
let metrics: PodWatchMetrics;

beforeAll(async () => {
  sim = await startSim({ clock });
  gateway = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const fn = /^\/async-function\/([a-z-]+)$/.exec(req.url ?? '')?.[1] ?? `?${req.url}`;
      const status = answers[fn]?.shift() ?? 202;
      if (status === 202) {
        const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
        received.push({ fn, headers, body: Buffer.concat(chunks).toString('utf8') });
      }
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
  gatewayUrl = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => gateway.close(() => resolve()));
  await sim.close();
});
beforeEach(() => {
  serial += 1;
  namespace = `pw-${serial}`;
  received = [];
  answers = {};
  sim.requests.clear();
});
afterEach(async () => {
  await source?.stop(2_000);
  source = undefined;
  sim.faults.clear();
});

function start(concurrency = 4): PodWatchSource {
  metrics = createPodWatchMetrics();
  source = startPodWatchSource(
    {
      kube: createKube({ server: sim.url, token: sim.token, requestTimeoutMs: 1_000, execTimeoutMs: 1_000 }),
      clock,
      log,
      metrics,
    },
    {
      namespaces: [namespace],
      reservationLabel: 'reservation-id',
      gatewayUrl,
      retry: { maxAttempts: 3, initialDelayMs: 5, maxDelayMs: 20, callTimeoutMs: 2_000 },
      queueLimit: 100,
      concurrency,
    },
  );
  return source;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!condition()) throw new Error(`timed out waiting for ${what}; received: ${JSON.stringify(received.map(label))}`);
}

function label(r: Received): string {
  const pod = JSON.parse(r.body) as {
    metadata: { name: string };
    status?: { containerStatuses?: { restartCount: number }[] };
  };
  return `${r.fn} ${r.headers['ce-type']!.split('.').pop()} ${pod.metadata.name}${pod.status?.containerStatuses?.[0]?.restartCount ? ' restarted' : ''}`;
}
const toExpire = () => received.filter((r) => r.fn === 'expire').map(label);
const watchRequests = () => sim.requests.all().filter((r) => r.query.get('watch') === 'true');
const ours = (name: string, extra: object = {}) => ({
  name,
  namespace,
  labels: { 'reservation-id': `res-${name}` },
  ...extra,
});

describe('pod-watch source', () => {
  it('emits only reservation pods, to every consumer, in the shape the consumers parse', async () => {
    sim.kube.addPod(ours('a'));
    sim.kube.addPod({ name: 'not-ours', namespace, labels: { app: 'other' } });
    start();
    await until(() => received.length === 2 && source!.ready(), 'the listed pod at both consumers');
    sim.kube.addPod({ name: 'still-not-ours', namespace });
    sim.kube.oomKill({ namespace, name: 'a' });
    await until(() => received.length === 4, 'the OOM update');
    expect(received.map((r) => r.fn).sort()).toEqual(['expire', 'expire', 'oom-scan', 'oom-scan']);
    expect(toExpire()).toEqual(['expire add a', 'expire update a restarted']);

    const update = received.find(
      (r) => r.fn === 'oom-scan' && r.headers['ce-type'] === 'dev.knative.apiserver.resource.update',
    )!;
    const parsed = parseCloudEvent(
      { headers: update.headers, mediaType: 'application/json', body: update.body },
      'binary',
    );
    expect(parsed.kind).toBe('event');
    const event = (parsed as Extract<typeof parsed, { kind: 'event' }>).event;
    expect(typesConsumedBy('oom-scan')).toContain(event.type);
    expect(event).toMatchObject({
      source: '/devenv-lifecycle/pod-watch',
      subject: `/apis/v1/namespaces/${namespace}/pods/a`,
    });
    const data = event.data as unknown as {
      kind: string;
      metadata: { uid: string; managedFields?: unknown };
      status: { containerStatuses: { lastState: { terminated: { reason: string; finishedAt: string } } }[] };
    };
    expect(data.kind).toBe('Pod');
    expect(data.status.containerStatuses[0]!.lastState.terminated).toMatchObject({
      reason: 'OOMKilled',
      finishedAt: '2026-06-01T12:00:00.000Z',
    });
    // The same CloudEvent attributes as Knative's ApiServerSource sends (its arrival stamp is the Broker's).
    const ceHeaders = (headers: Record<string, string>) =>
      Object.keys(headers)
        .filter((h) => h.startsWith('ce-') && h !== 'ce-knativearrivaltime')
        .sort();
    expect(ceHeaders(update.headers)).toEqual(ceHeaders(apiServerSourceUpdate.headers));
    expect([
      update.headers['ce-kind'],
      update.headers['ce-name'],
      update.headers['ce-namespace'],
      update.headers['ce-apiversion'],
    ]).toEqual(['Pod', 'a', namespace, 'v1']);
  });

  it('sends no event for an update that changes nothing a consumer reads (an annotation), and does for one that does', async () => {
    sim.kube.addPod(ours('a'));
    start();
    await until(() => toExpire().length === 1, 'the listed pod');
    await fetch(`${sim.url}/api/v1/namespaces/${namespace}/pods/a`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${sim.token}`, 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ metadata: { annotations: { touched: 'yes' } } }),
    });
    sim.kube.setPodPhase({ namespace, name: 'a' }, 'Failed');
    await until(() => toExpire().length === 2, 'the phase change');
    expect(toExpire()).toEqual(['expire add a', 'expire update a']);
    const changes = Object.fromEntries(
      (await metrics.changes.get()).values.map((v) => [`${v.labels.change} ${v.labels.emitted}`, v.value]),
    );
    expect(changes).toEqual({ 'ADDED true': 1, 'MODIFIED false': 1, 'MODIFIED true': 1 });
    expect(JSON.parse(received.at(-1)!.body)).toMatchObject({
      metadata: { annotations: { touched: 'yes' } },
      status: { phase: 'Failed' },
    });
  });

  it('resumes a dropped stream from where it was: the change made while it was down, nothing repeated', async () => {
    sim.kube.addPod(ours('a'));
    sim.faults.add({ path: `/api/v1/namespaces/${namespace}/pods`, dropWatch: true, delayMs: 50, count: 1 });
    sim.faults.add({
      path: new RegExp(`^/api/v1/namespaces/${namespace}/pods\\?.*watch=true`),
      delayMs: 300,
      count: 1,
    });
    start();
    await until(() => watchRequests().length === 2, 'the resumed watch to be held');
    sim.kube.setPodPhase({ namespace, name: 'a' }, 'Failed');
    sim.kube.addPod(ours('b'));
    await until(() => toExpire().length === 3, 'three events');
    expect(toExpire()).toEqual(['expire add a', 'expire update a', 'expire add b']);
    expect(new Set(received.map((r) => `${r.fn} ${r.headers['ce-id']}`)).size).toBe(received.length);
    expect(await metrics.watchErrors.get()).toMatchObject({ values: [{ value: 1 }] });
  });

  it('lists again after 410 Gone and emits only what changed while it was away', async () => {
    for (const name of ['stays', 'changes', 'goes']) sim.kube.addPod(ours(name));
    sim.faults.add({ path: `/api/v1/namespaces/${namespace}/pods`, dropWatch: true, delayMs: 50, count: 1 });
    sim.faults.add({
      path: new RegExp(`^/api/v1/namespaces/${namespace}/pods\\?.*watch=true`),
      delayMs: 300,
      count: 1,
    });
    start();
    await until(() => toExpire().length === 3 && watchRequests().length === 2, 'the listed pods and the held resume');
    sim.kube.oomKill({ namespace, name: 'changes' });
    sim.kube.deleteBehindOurBack({ namespace, name: 'goes' });
    sim.kube.compact();
    await until(() => toExpire().length === 5 && watchRequests().length === 3, 'the relist and a new watch');
    expect(toExpire().slice(3).sort()).toEqual(['expire delete goes', 'expire update changes restarted']);
    sim.kube.setPodPhase({ namespace, name: 'stays' }, 'Succeeded');
    await until(() => toExpire().length === 6, 'a change after the relist');
    expect(toExpire()[5]).toBe('expire update stays');
  });

  it('retries a refused delivery with backoff, and gives up on a consumer after the last attempt without holding back the rest', async () => {
    sim.kube.addPod(ours('a'));
    answers = { expire: [503, 429] };
    start(1); // one event at a time, so the answers below meet b and not c
    await until(() => received.length === 2, 'both consumers, expire after two retries');
    answers = { expire: [503, 503, 503], 'oom-scan': [400] };
    sim.kube.addPod(ours('b'));
    sim.kube.addPod(ours('c'));
    await until(() => received.length === 4, 'both consumers to get c');
    await source!.stop(2_000);
    expect(received.map((r) => `${r.fn} ${label(r).split(' ').pop()}`).sort()).toEqual([
      'expire a',
      'expire c',
      'oom-scan a',
      'oom-scan c',
    ]);
    const count = async (counter: PodWatchMetrics['deliveries'] | PodWatchMetrics['deliveryRetries']) =>
      Object.fromEntries((await counter.get()).values.map((v) => [Object.values(v.labels).join(' '), v.value]));
    // expire: 2 retries for a, then 3 attempts (2 retries) for b; oom-scan's 400 is final at once.
    expect(await count(metrics.deliveries)).toEqual({
      'expire delivered': 2,
      'expire failed': 1,
      'oom-scan delivered': 2,
      'oom-scan failed': 1,
    });
    expect(await count(metrics.deliveryRetries)).toEqual({ expire: 4 });
  });

  it('gives the same change the same event id after a restart, so consumers answer it as a duplicate', async () => {
    sim.kube.addPod(ours('a'));
    start();
    await until(() => received.length === 2, 'the first start');
    await source!.stop(2_000);
    start();
    await until(() => received.length === 4, 'the second start');
    expect(received[2]!.headers['ce-id']).toBe(received[0]!.headers['ce-id']);
  });
});

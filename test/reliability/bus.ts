/*
 * The event plane as the functions' outbox sees it: a Knative Broker at POST / (fanned out to the
 * consumers of the event's type, as the Triggers do) and the OpenFaaS gateway's POST
 * /async-function/<fn>. Everything is queued and answered 202, and every publication is kept so
 * the invariants can count events per entity. The queue is delivered later, in shuffled order, some events twice, each copy to
 * a randomly chosen replica, as an at-least-once queue with several workers does. A refused
 * delivery (5xx) stays queued for the next flush, like the queue-worker's retries.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { consumersOf } from '../../shared/events/routing.js';
import { isEventType } from '../../shared/events/types.js';
import type { Endpoint } from '../../shared/runtime/endpoint.js';

export interface Delivery {
  fn: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface PublishedEvent {
  id: string;
  type: string;
  subject: string | undefined;
  data: Record<string, unknown>;
}

export interface BusStats {
  published: number;
  delivered: number;
  duplicated: number;
  redelivered: number;
  refusedByBus: number;
  /** Answers 4xx to our own events: always a defect. */
  rejected: string[];
}

export interface Bus {
  url: string;
  stats: BusStats;
  /** Every publication, in arrival order, repeats included. */
  published: PublishedEvent[];
  pending(): number;
  /** Inject an event as a platform source would (pod changes). */
  push(delivery: Delivery): void;
  flush(pick: () => number, options: { duplicateRate: number }): Promise<void>;
  /** Refuse this share of incoming publications with 503 (the outbox keeps and retries them). */
  setRefuseRate(rate: number): void;
  close(): Promise<void>;
}

const KEPT = /^(ce-|content-type$|traceparent$)/;

/** Who receives a publication: the Broker's consumers of its type, or the named function. */
function routeOf(method: string | undefined, url: string | undefined, type: string): readonly string[] | undefined {
  if (method !== 'POST') return undefined;
  if (url === '/') return isEventType(type) ? consumersOf(type) : undefined;
  const match = /^\/async-function\/([a-z-]+)$/.exec(url ?? '');
  return match ? [match[1]!] : undefined;
}

/** Attribute headers are percent-encoded (CloudEvents HTTP binding 3.1.3.2): a subject with a newline is sent as %0A. */
function decodeAttribute(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function shuffle<T>(items: T[], pick: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(pick() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

export async function startBus(replicaEndpoints: () => Map<string, Endpoint>[], pick: () => number): Promise<Bus> {
  let queue: Delivery[] = [];
  let refuseRate = 0;
  const published: PublishedEvent[] = [];
  const stats: BusStats = { published: 0, delivered: 0, duplicated: 0, redelivered: 0, refusedByBus: 0, rejected: [] };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const targets = routeOf(req.method, req.url, String(req.headers['ce-type']));
      if (!targets) return void res.writeHead(404).end();
      if (pick() < refuseRate) {
        stats.refusedByBus += 1;
        return void res.writeHead(503).end();
      }
      const headers = Object.fromEntries(
        Object.entries(req.headers)
          .filter(([name]) => KEPT.test(name))
          .map(([name, value]) => [name, String(value)]),
      );
      const body = Buffer.concat(chunks);
      published.push({
        id: headers['ce-id']!,
        type: headers['ce-type']!,
        subject: decodeAttribute(headers['ce-subject']),
        data: JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown>,
      });
      for (const fn of targets) queue.push({ fn, headers, body });
      stats.published += 1;
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const deliverOne = async (delivery: Delivery): Promise<Delivery | undefined> => {
    const replicas = replicaEndpoints();
    const endpoint = replicas[Math.floor(pick() * replicas.length)]!.get(delivery.fn);
    if (!endpoint) return void stats.rejected.push(`no function ${delivery.fn}`);
    const answer = await endpoint({ method: 'POST', path: '/', headers: delivery.headers, rawBody: delivery.body });
    if (answer.status >= 500 || answer.status === 409) return delivery;
    if (answer.status >= 400) stats.rejected.push(`${delivery.fn} answered ${answer.status}: ${answer.body}`);
    else stats.delivered += 1;
    return undefined;
  };
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stats,
    published,
    pending: () => queue.length,
    push: (delivery) => void queue.push(delivery),
    setRefuseRate: (rate) => void (refuseRate = rate),
    flush: async (choose, { duplicateRate }) => {
      const batch = queue;
      queue = [];
      const copies = batch.flatMap((delivery) => (choose() < duplicateRate ? [delivery, delivery] : [delivery]));
      stats.duplicated += copies.length - batch.length;
      const retry = (await Promise.all(shuffle(copies, choose).map(deliverOne))).filter(
        (d): d is Delivery => d !== undefined,
      );
      stats.redelivered += retry.length;
      queue.push(...retry);
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/*
 * Watch streams: one JSON event per line, replayed from `resourceVersion` out of the store's
 * history, then live. An object that starts or stops matching the selectors arrives as ADDED or
 * DELETED, as the real server's watch cache reports it; a version older than the retained history
 * gets an ERROR event carrying a 410 Expired Status, and the stream ends.
 */
import type http from 'node:http';
import type { ResourceType } from './resources.js';
import { apiVersionOf } from './resources.js';
import type { FieldSelector, LabelSelector } from './selectors.js';
import { matchesFields, matchesLabels } from './selectors.js';
import type { Change, KubeObject, ObjectStore } from './store.js';
import { badRequest, statusBody } from './status.js';

export interface WatchRequest {
  type: ResourceType;
  namespace?: string;
  labels: LabelSelector;
  fields: FieldSelector;
  resourceVersion: string | null;
  timeoutSeconds?: number;
  bookmarks: boolean;
  /** Fault injection: destroy the connection this long after the stream opened. */
  dropAfterMs?: number;
  /** How each event's object is sent (a Table row for kubectl get -w); as stored when absent. */
  render?: (object: KubeObject) => unknown;
}

interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: unknown;
}

function matcher(request: WatchRequest): (object: KubeObject | undefined) => boolean {
  return (object) =>
    object !== undefined &&
    (request.namespace === undefined || object.metadata.namespace === request.namespace) &&
    matchesLabels(request.labels, object.metadata.labels) &&
    matchesFields(request.fields, object);
}

function eventFor(change: Change, matches: (object: KubeObject | undefined) => boolean): WatchEvent | undefined {
  if (change.type === 'DELETED') return matches(change.object) ? { type: 'DELETED', object: change.object } : undefined;
  const was = change.type === 'MODIFIED' && matches(change.previous);
  const is = matches(change.object);
  if (was && is) return { type: 'MODIFIED', object: change.object };
  if (is) return { type: 'ADDED', object: change.object };
  if (was) return { type: 'DELETED', object: change.object };
  return undefined;
}

// Open streams per store, so a scenario can drop them all at once (an API server restart).
const openStreams = new WeakMap<ObjectStore, Set<http.ServerResponse>>();

/** Destroys the connection of every open watch on this store; returns how many there were. */
export function dropWatches(store: ObjectStore): number {
  const streams = openStreams.get(store) ?? new Set();
  for (const res of streams) res.socket?.destroy();
  return streams.size;
}

function startVersion(text: string | null): number | undefined {
  if (text === null || text === '' || text === '0') return undefined;
  if (!/^\d+$/.test(text)) throw badRequest(`resourceVersion: Invalid value: "${text}": must be a decimal number`);
  return Number(text);
}

/** Answers one watch request; throws a KubeApiError (before any byte is written) for a bad one. */
export function serveWatch(store: ObjectStore, request: WatchRequest, res: http.ServerResponse): void {
  const from = startVersion(request.resourceVersion);
  const plural = request.type.plural;
  const matches = matcher(request);
  const replay = from === undefined ? undefined : store.changesSince(from);
  res.writeHead(200, {
    'Content-Type': 'application/json',
    'Transfer-Encoding': 'chunked',
    'Cache-Control': 'no-cache',
  });
  res.flushHeaders(); // the stream is open from the client's point of view before any event
  const write = (event: WatchEvent) => {
    if (res.writableEnded || res.destroyed) return;
    const rendered =
      request.render && event.type !== 'ERROR' && event.type !== 'BOOKMARK'
        ? { ...event, object: request.render(event.object as KubeObject) }
        : event;
    res.write(`${JSON.stringify(rendered)}\n`);
  };
  if (replay === 'expired') {
    const oldest = store.oldestServableVersion();
    write({ type: 'ERROR', object: statusBody(410, `too old resource version: ${from} (${oldest})`, 'Expired') });
    res.end();
    return;
  }
  const initial = replay ?? store.list(plural).map((object): Change => ({ rv: 0, type: 'ADDED', plural, object }));
  for (const change of initial) {
    const event = change.plural === plural ? eventFor(change, matches) : undefined;
    if (event) write(event);
  }
  const unsubscribe = store.subscribe((change) => {
    const event = change.plural === plural ? eventFor(change, matches) : undefined;
    if (event) write(event);
  });
  const timers: NodeJS.Timeout[] = [];
  if (request.timeoutSeconds) {
    timers.push(
      setTimeout(() => {
        if (request.bookmarks) write({ type: 'BOOKMARK', object: bookmark(request.type, store.currentVersion()) });
        res.end();
      }, request.timeoutSeconds * 1000),
    );
  }
  if (request.dropAfterMs !== undefined) timers.push(setTimeout(() => res.socket?.destroy(), request.dropAfterMs));
  const open = openStreams.get(store) ?? new Set();
  openStreams.set(store, open.add(res));
  res.on('close', () => {
    open.delete(res);
    unsubscribe();
    for (const timer of timers) clearTimeout(timer);
  });
}

function bookmark(type: ResourceType, version: number): object {
  return { kind: type.kind, apiVersion: apiVersionOf(type), metadata: { resourceVersion: String(version) } };
}

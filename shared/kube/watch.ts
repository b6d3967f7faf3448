/*
 * A pod watch that keeps going, as an informer's reflector does: list (emitting what changed since
 * the last list), then watch from the list's resourceVersion; when the stream ends, watch again
 * from the last version seen (bookmarks included); on 410 Gone, list again and carry on. Nothing is
 * missed across reconnects, and nothing is reported twice unless it changed.
 *
 * Transient trouble is reported to `onError` and retried with backoff; anything else (a bad
 * selector, no permission) rejects, since retrying cannot fix it. Resolves when `signal` aborts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Watch } from '@kubernetes/client-node';
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
// The watch hands over raw JSON; the client's serializer turns it into the same V1Pod (dates as
// Date) that list calls return. It is not exported from the package root in 1.4.0.
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import { ExponentialBackoff } from 'cockatiel';
import type { IBackoff } from 'cockatiel';
import type { AppError } from '../errors.js';
import { Transient } from '../errors.js';
import { fromHttpFailure, translateKubeError } from './errors.js';

export type PodEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface PodEvent {
  type: PodEventType;
  pod: V1Pod;
  /** For MODIFIED: the pod as last reported, so a consumer can tell what changed. */
  previous?: V1Pod;
}

export interface WatchPodsOptions {
  /** All namespaces when absent. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Called for every change, starting with ADDED for each pod in the first list. */
  onEvent(event: PodEvent): void;
  /** Trouble the watch survived (it reconnects), and errors thrown by onEvent. */
  onError?(err: Error): void;
  /** Called after each successful list (the first one, and each after a 410): the view is complete. */
  onListed?(): void;
  signal: AbortSignal;
}

export interface WatchDeps {
  kc: KubeConfig;
  list(signal: AbortSignal): Promise<{ items: V1Pod[]; resourceVersion: string }>;
  /** The server ends each watch after this long; a stream that outlives it by requestTimeoutMs is abandoned. */
  watchTimeoutSeconds: number;
  requestTimeoutMs: number;
}

type WatchedObject = { code?: number; metadata?: { resourceVersion?: string } };

/** How a stream ended: normally, with 410 Gone (`gone`), or with an error to retry or give up on. */
type StreamEnd = { gone: boolean } | { error: AppError };

function endOfStream(err: unknown): StreamEnd {
  const code = (err as { statusCode?: number } | null)?.statusCode;
  if (code === 410) return { gone: true };
  if (code !== undefined) return { error: fromHttpFailure({ code }, 'watch pods', err) };
  if (err) return { error: translateKubeError(err, 'watch pods') };
  return { gone: false };
}

function endOfErrorEvent(status: WatchedObject | undefined): StreamEnd {
  if (status?.code === 410) return { gone: true };
  return { error: fromHttpFailure({ code: status?.code ?? 500, body: JSON.stringify(status) }, 'watch pods', status) };
}

function keyOf(pod: V1Pod): string {
  return `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
}

class PodWatch {
  private readonly known = new Map<string, V1Pod>();
  /** The last resourceVersion seen (list, event or bookmark); undefined means "list first". */
  private version: string | undefined;

  constructor(
    private readonly deps: WatchDeps,
    private readonly options: WatchPodsOptions,
  ) {}

  async run(): Promise<void> {
    const backoffs = new ExponentialBackoff({ initialDelay: 250, maxDelay: 15_000 });
    let backoff: IBackoff<unknown> | undefined;
    while (!this.options.signal.aborted) {
      try {
        this.version ??= await this.relist();
        const gone = await this.watchFrom(this.version);
        if (gone) this.version = undefined;
        backoff = undefined;
      } catch (err) {
        const failure = translateKubeError(err, 'watch pods');
        if (!(failure instanceof Transient)) throw failure;
        this.options.onError?.(failure);
        backoff = backoff ? backoff.next(undefined) : backoffs.next();
        await sleep(backoff.duration, undefined, { signal: this.options.signal }).catch(() => undefined);
      }
    }
  }

  private emit(type: PodEventType, pod: V1Pod, previous?: V1Pod): void {
    try {
      this.options.onEvent({ type, pod, ...(type === 'MODIFIED' && previous && { previous }) });
    } catch (err) {
      this.options.onError?.(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Lists, emits the difference from what was known, and returns the list's resourceVersion. */
  private async relist(): Promise<string> {
    const list = await this.deps.list(this.options.signal);
    const seen = new Set<string>();
    for (const pod of list.items) {
      const key = keyOf(pod);
      const before = this.known.get(key);
      seen.add(key);
      this.known.set(key, pod);
      if (before && before.metadata?.uid !== pod.metadata?.uid) this.emit('DELETED', before);
      if (!before || before.metadata?.uid !== pod.metadata?.uid) this.emit('ADDED', pod);
      else if (before.metadata?.resourceVersion !== pod.metadata?.resourceVersion) this.emit('MODIFIED', pod, before);
    }
    for (const [key, pod] of this.known) {
      if (seen.has(key)) continue;
      this.known.delete(key);
      this.emit('DELETED', pod);
    }
    this.options.onListed?.();
    return list.resourceVersion;
  }

  private apply(type: PodEventType, raw: unknown): void {
    const pod = ObjectSerializer.deserialize(raw, 'V1Pod', '') as V1Pod;
    const previous = this.known.get(keyOf(pod));
    if (type === 'DELETED') this.known.delete(keyOf(pod));
    else this.known.set(keyOf(pod), pod);
    this.emit(type, pod, previous);
  }

  private path(): string {
    const { namespace } = this.options;
    return namespace === undefined ? '/api/v1/pods' : `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`;
  }

  private query(from: string): Record<string, string | number | boolean> {
    const { labelSelector, fieldSelector } = this.options;
    return {
      resourceVersion: from,
      allowWatchBookmarks: true,
      timeoutSeconds: this.deps.watchTimeoutSeconds,
      ...(labelSelector !== undefined && { labelSelector }),
      ...(fieldSelector !== undefined && { fieldSelector }),
    };
  }

  /** Applies one event line; an ERROR line ends the stream. */
  private onLine(type: string, object: WatchedObject | undefined): StreamEnd | undefined {
    if (type === 'ERROR') return endOfErrorEvent(object);
    this.version = object?.metadata?.resourceVersion ?? this.version;
    if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') this.apply(type, object);
    return undefined;
  }

  /** One watch stream, from `from` until it ends; true when the server says the version expired (410). */
  private watchFrom(from: string): Promise<boolean> {
    const { signal } = this.options;
    return new Promise<boolean>((resolve, reject) => {
      let controller: AbortController | undefined;
      let finished = false;
      const finish = (end: StreamEnd) => {
        if (finished) return;
        finished = true;
        clearTimeout(stall);
        signal.removeEventListener('abort', stop);
        controller?.abort();
        if ('error' in end) reject(end.error);
        else resolve(end.gone);
      };
      const stop = () => finish({ gone: false });
      signal.addEventListener('abort', stop);
      // The client has no timeout of its own on a watch; a server that never ends it is abandoned.
      const stall = setTimeout(
        () => finish({ error: new Transient('watch pods: the stream outlived its timeout') }),
        this.deps.watchTimeoutSeconds * 1000 + this.deps.requestTimeoutMs,
      );
      const onLine = (type: string, object: WatchedObject | undefined) => {
        const end = finished ? undefined : this.onLine(type, object);
        if (end) finish(end);
      };
      new Watch(this.deps.kc)
        .watch(this.path(), this.query(from), onLine, (err: unknown) => finish(endOfStream(err)))
        .then(
          (c) => {
            controller = c;
            if (finished) c.abort();
          },
          (err: unknown) => finish({ error: translateKubeError(err, 'watch pods') }),
        );
    });
  }
}

export function watchPods(deps: WatchDeps, options: WatchPodsOptions): Promise<void> {
  return new PodWatch(deps, options).run();
}

/*
 * The Kubernetes operations the functions need, over @kubernetes/client-node 1.4.0: pods (list by
 * selector across pages, get, delete with a grace period, exec, watch), services and ingresses
 * (list and delete by label), and events. Every request has its own timeout and throws only the
 * project's typed errors. Each call is one attempt; callers compose retries with
 * shared/resilience.ts (`withRetries((signal) => kube.getPod({ …, signal }), policy)`).
 */
import type {
  ConfigurationOptions,
  CoreV1Api,
  CoreV1Event,
  NetworkingV1Api,
  V1ListMeta,
  V1Pod,
  V1Service,
} from '@kubernetes/client-node';
import { Fatal, NotFound, Transient } from '../errors.js';
import type { ExecResult } from './pods.js';
import type { CallSettings } from './call.js';
import type { KubeOptions } from './config.js';
import { checkKubeOptions } from './config.js';
import type { Connection } from './connection.js';
import type { ExecTarget } from './exec.js';
import type { WatchPodsOptions } from './watch.js';

export type { KubeOptions, ExecTarget, WatchPodsOptions };
export type { PodEvent, PodEventType } from './watch.js';

export interface PodList {
  items: V1Pod[];
  /** The first page's version: a watch from here misses nothing that changed while paging. */
  resourceVersion: string;
}

export interface Selection {
  /** All namespaces when absent (pods and events only). */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  signal?: AbortSignal;
}

export interface ObjectName {
  namespace: string;
  name: string;
  signal?: AbortSignal;
}

export interface LabelledIn {
  namespace: string;
  labelSelector: string;
  signal?: AbortSignal;
}

// The page size kubectl uses; big enough that a quiet fleet is one request.
const defaultPageSize = 500;
// Servers end a watch after this; the informer in client-go picks 5–10 minutes.
const watchTimeoutSeconds = 300;

interface Page<T> {
  items: T[];
  metadata?: V1ListMeta;
}

/** Follows `continue` tokens to the end; the version is the first page's. */
async function allPages<T>(
  fetchPage: (token: string | undefined) => Promise<Page<T>>,
): Promise<{ items: T[]; resourceVersion: string }> {
  const first = await fetchPage(undefined);
  const items = [...first.items];
  let token = first.metadata?._continue;
  const seen = new Set<string>();
  while (token) {
    if (seen.has(token)) throw new Fatal('the API server repeated a continue token; refusing to loop');
    seen.add(token);
    const page = await fetchPage(token);
    items.push(...page.items);
    token = page.metadata?._continue;
  }
  return { items, resourceVersion: first.metadata?.resourceVersion ?? '' };
}

/** A continue token the server refuses as too old (410 Gone): the listing must start over. */
export class ListExpired extends Transient {}

async function expiring<T>(call: Promise<T>, isGone: Connection['isGone']): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof Transient && isGone(err.cause))
      throw new ListExpired(err.message, undefined, { cause: err.cause });
    throw err;
  }
}

async function existed(deletion: Promise<unknown>): Promise<boolean> {
  try {
    await deletion;
    return true;
  } catch (err) {
    if (err instanceof NotFound) return false;
    throw err;
  }
}

export function createKube(options: KubeOptions) {
  checkKubeOptions(options);
  // The client library is loaded, and the configuration read, on the first request: functions
  // answer health checks and parse requests without the cluster, and a bundle leaves the library
  // out of what it parses at start-up. Every request goes through callApi, which connects first,
  // so core and networking are set wherever the request callbacks below run.
  let core!: CoreV1Api;
  let networking!: NetworkingV1Api;
  let connecting: Promise<Connection> | undefined;
  const connection = () =>
    (connecting ??= import('./connection.js').then(({ connect }) => {
      const connected = connect(options);
      ({ core, networking } = connected);
      return connected;
    }));
  const callApi = async <T>(settings: CallSettings, request: (o: ConfigurationOptions) => Promise<T>): Promise<T> =>
    (await connection()).callApi(settings, request);
  const limit = options.listPageSize ?? defaultPageSize;
  const call = (action: string, signal: AbortSignal | undefined, name?: string): CallSettings => ({
    action,
    timeoutMs: options.requestTimeoutMs,
    ...(signal && { signal }),
    ...(name !== undefined && { name }),
  });
  const where = (namespace: string | undefined) => namespace ?? 'all namespaces';

  const listPods = ({ namespace, labelSelector, fieldSelector, signal }: Selection): Promise<PodList> =>
    allPages((_continue) =>
      callApi(call(`list pods in ${where(namespace)}`, signal), (o) =>
        namespace === undefined
          ? core.listPodForAllNamespaces({ labelSelector, fieldSelector, limit, _continue }, o)
          : core.listNamespacedPod({ namespace, labelSelector, fieldSelector, limit, _continue }, o),
      ),
    );

  const listServices = ({ namespace, labelSelector, signal }: LabelledIn) =>
    allPages((_continue) =>
      callApi(call(`list services in ${namespace}`, signal), (o) =>
        core.listNamespacedService({ namespace, labelSelector, limit, _continue }, o),
      ),
    ).then((list) => list.items);

  const listIngresses = ({ namespace, labelSelector, signal }: LabelledIn) =>
    allPages((_continue) =>
      callApi(call(`list ingresses in ${namespace}`, signal), (o) =>
        networking.listNamespacedIngress({ namespace, labelSelector, limit, _continue }, o),
      ),
    ).then((list) => list.items);

  return {
    listPods,
    /**
     * One page of a namespace's pods (`pageSize` of them at most), for callers that process a page
     * before reading the next, each pod mapped by `project` from its JSON as the answer arrives
     * (the client builds no model of it: shared/kube/item-projection.ts). `continueToken` is
     * absent on the last page.
     * @throws ListExpired when the server no longer honours `continueToken` (410): list again.
     */
    listPodsPage: async <T>({
      namespace,
      labelSelector,
      pageSize,
      continueToken,
      project,
      signal,
    }: LabelledIn & { pageSize: number; continueToken?: string; project: (pod: unknown) => T }) => {
      const { isGone } = await connection();
      const taker = (await import('./item-projection.js')).takeItems(project);
      const page = await expiring(
        callApi(call(`list pods in ${namespace}`, signal), (o) =>
          core.listNamespacedPod(
            {
              namespace,
              labelSelector,
              limit: pageSize,
              ...(continueToken !== undefined && { _continue: continueToken }),
            },
            { ...o, middleware: [...(o.middleware ?? []), taker.middleware] },
          ),
        ),
        isGone,
      );
      return { items: taker.items(), ...(page.metadata?._continue && { continueToken: page.metadata._continue }) };
    },

    /** @throws NotFound when the API server says the pod does not exist. */
    getPod: ({ namespace, name, signal }: ObjectName): Promise<V1Pod> =>
      callApi(call(`get pod ${namespace}/${name}`, signal, name), (o) =>
        core.readNamespacedPod({ namespace, name }, o),
      ),

    /** Whether the namespace exists: false only on a definite 404; any other failure throws. */
    namespaceExists: ({ name, signal }: { name: string; signal?: AbortSignal }): Promise<boolean> =>
      existed(callApi(call(`get namespace ${name}`, signal, name), (o) => core.readNamespace({ name }, o))),

    /**
     * Starts a graceful deletion; false when the pod was already gone (404). With `uid`, the API
     * server deletes only that object (a precondition): a pod recreated under the name is a Conflict.
     */
    deletePod: ({
      namespace,
      name,
      gracePeriodSeconds,
      uid,
      signal,
    }: ObjectName & { gracePeriodSeconds: number; uid?: string }): Promise<boolean> =>
      existed(
        callApi(call(`delete pod ${namespace}/${name}`, signal, name), (o) =>
          core.deleteNamespacedPod(
            { namespace, name, gracePeriodSeconds, ...(uid !== undefined && { body: { preconditions: { uid } } }) },
            o,
          ),
        ),
      ),

    listServices,
    /** @throws NotFound when the API server says the service does not exist. */
    getService: ({ namespace, name, signal }: ObjectName): Promise<V1Service> =>
      callApi(call(`get service ${namespace}/${name}`, signal, name), (o) =>
        core.readNamespacedService({ namespace, name }, o),
      ),
    /** Deletes one service by name (only the object with `uid`, when given); false when it was already gone (404). */
    deleteService: ({ namespace, name, uid, signal }: ObjectName & { uid?: string }): Promise<boolean> =>
      existed(
        callApi(call(`delete service ${namespace}/${name}`, signal, name), (o) =>
          core.deleteNamespacedService(
            { namespace, name, ...(uid !== undefined && { body: { preconditions: { uid } } }) },
            o,
          ),
        ),
      ),
    /** Deletes every matching service; returns the names that were deleted (already-gone ones are skipped). */
    async deleteServices(selection: LabelledIn): Promise<string[]> {
      const { namespace, signal } = selection;
      const names = (await listServices(selection)).map((s) => s.metadata?.name ?? '');
      const results = await Promise.all(
        names.map((name) =>
          existed(
            callApi(call(`delete service ${namespace}/${name}`, signal, name), (o) =>
              core.deleteNamespacedService({ namespace, name }, o),
            ),
          ),
        ),
      );
      return names.filter((_, i) => results[i]);
    },

    listIngresses,
    /** Deletes one ingress by name (only the object with `uid`); false when it was already gone (404). */
    deleteIngress: ({ namespace, name, uid, signal }: ObjectName & { uid: string }): Promise<boolean> =>
      existed(
        callApi(call(`delete ingress ${namespace}/${name}`, signal, name), (o) =>
          networking.deleteNamespacedIngress({ namespace, name, body: { preconditions: { uid } } }, o),
        ),
      ),
    /** Deletes every matching ingress; returns the names that were deleted (already-gone ones are skipped). */
    async deleteIngresses(selection: LabelledIn): Promise<string[]> {
      const { namespace, signal } = selection;
      const names = (await listIngresses(selection)).map((i) => i.metadata?.name ?? '');
      const results = await Promise.all(
        names.map((name) =>
          existed(
            callApi(call(`delete ingress ${namespace}/${name}`, signal, name), (o) =>
              networking.deleteNamespacedIngress({ namespace, name }, o),
            ),
          ),
        ),
      );
      return names.filter((_, i) => results[i]);
    },

    listEvents: ({ namespace, labelSelector, fieldSelector, signal }: Selection): Promise<CoreV1Event[]> =>
      allPages((_continue) =>
        callApi(call(`list events in ${where(namespace)}`, signal), (o) =>
          namespace === undefined
            ? core.listEventForAllNamespaces({ labelSelector, fieldSelector, limit, _continue }, o)
            : core.listNamespacedEvent({ namespace, labelSelector, fieldSelector, limit, _continue }, o),
        ),
      ).then((list) => list.items),

    /** Runs a fixed argv (content only ever on stdin); satisfies the PodExec port in shared/kube/pods.ts. */
    exec: async (target: ExecTarget, argv: readonly string[], stdin?: string): Promise<ExecResult> => {
      const { execInPod, kc } = await connection();
      return execInPod(kc, target, argv, stdin, options.execTimeoutMs);
    },

    /** Keeps watching until `signal` aborts; see watch.ts for what survives what. */
    watchPods: async (watch: WatchPodsOptions): Promise<void> => {
      const { watchPods, kc } = await connection();
      return watchPods(
        {
          kc,
          list: (signal) => listPods({ ...watch, signal }),
          watchTimeoutSeconds,
          requestTimeoutMs: options.requestTimeoutMs,
        },
        watch,
      );
    },
  };
}

export type Kube = ReturnType<typeof createKube>;

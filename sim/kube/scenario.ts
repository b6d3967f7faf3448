/*
 * The test-facing side of the simulated cluster: put objects in, drive pods through the states the
 * functions react to (OOM kill with restart, eviction, failure, deletion behind our back), look at
 * a container's files, broadcasts and exec history, and move graceful deletions along the clock.
 * Every change goes through the store, so watches see it exactly as they would see the API's own.
 */
import type { KubeContext } from './context.js';
import type { ExecProtocol, ExecRecord } from './exec.js';
import { FsError } from './filesystem.js';
import type { EventSpec, IngressSpec, NodeSpec, ServiceSpec } from './objects.js';
import { eventBody, ingressBody, namespaceBody, nodeBody, serviceBody } from './objects.js';
import type { Pod, PodPhase } from './pod-status.js';
import { afterOomKill, afterTermination } from './pod-status.js';
import type { Broadcast, PodRef } from './pods.js';
import type { KubeObject } from './store.js';
import { dropWatches } from './watch.js';
import { timestamp } from './status.js';

export interface PodSpec {
  name: string;
  /** `default` when absent; a namespace that does not exist yet is created. */
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Container names; one container named `gpu-dev` (the reservation image's) when absent. */
  containers?: string[];
  phase?: PodPhase;
  nodeName?: string;
  volumes?: { name: string; awsElasticBlockStore?: { volumeID: string; fsType?: string } }[];
  terminationGracePeriodSeconds?: number;
}

export type Listable = 'pods' | 'services' | 'ingresses' | 'events' | 'nodes' | 'namespaces';

export interface ObjectRef {
  namespace: string;
  name: string;
  uid: string;
}

const evictionMessage = 'The node was low on resource: memory. Threshold quantity: 100Mi, available: 51200Ki.';

export function createScenario(ctx: KubeContext) {
  const { store, pods, clock } = ctx;
  let services = 0;
  const ref = (object: KubeObject): ObjectRef => ({
    namespace: object.metadata.namespace ?? '',
    name: object.metadata.name,
    uid: object.metadata.uid,
  });
  const ensureNamespace = (name: string) => {
    if (!store.get('namespaces', undefined, name)) store.create('namespaces', namespaceBody(name));
  };
  const inNamespace = <T extends { namespace?: string }>(spec: T): string => {
    const namespace = spec.namespace ?? 'default';
    ensureNamespace(namespace);
    return namespace;
  };
  const restoredListeners = new Set<(node: string) => void>();
  const setNodeReachable = (name: string, reachable: boolean) => {
    const node = store.get('nodes', undefined, name);
    if (!node) throw new Error(`no node named ${name}`);
    const at = timestamp(clock.now());
    const ready = reachable
      ? {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          message: 'kubelet is posting ready status',
          lastHeartbeatTime: at,
          lastTransitionTime: at,
        }
      : {
          type: 'Ready',
          status: 'Unknown',
          reason: 'NodeStatusUnknown',
          message: 'Kubelet stopped posting node status.',
          lastTransitionTime: at,
        };
    const status = node.status as { conditions: { type: string }[] };
    const taints = reachable
      ? []
      : [
          { key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule', timeAdded: at },
          { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute', timeAdded: at },
        ];
    const spec = { ...(node.spec as object), taints };
    store.update('nodes', {
      ...node,
      spec,
      status: { ...status, conditions: [ready, ...status.conditions.filter((c) => c.type !== 'Ready')] },
    });
    if (reachable) pods.lostNodes.delete(name);
    else pods.lostNodes.add(name);
  };
  const firstContainer = (target: PodRef) => pods.get(target).spec.containers[0]!.name;
  const files = (target: PodRef, container?: string) =>
    pods.filesystem(pods.get(target), container ?? firstContainer(target));

  return {
    addNamespace: (name: string, labels?: Record<string, string>): ObjectRef =>
      ref(store.create('namespaces', namespaceBody(name, labels))),
    addNode: (spec: NodeSpec): ObjectRef => ref(store.create('nodes', nodeBody(spec, clock.now()))),
    addPod(spec: PodSpec): ObjectRef {
      const namespace = inNamespace(spec);
      const containers = (spec.containers ?? ['gpu-dev']).map((name) => ({ name, image: `${name}:sim` }));
      const metadata = {
        name: spec.name,
        namespace,
        ...(spec.labels && { labels: spec.labels }),
        ...(spec.annotations && { annotations: spec.annotations }),
      };
      const podSpec = {
        containers,
        ...(spec.nodeName && { nodeName: spec.nodeName }),
        ...(spec.volumes && { volumes: spec.volumes }),
        ...(spec.terminationGracePeriodSeconds !== undefined && {
          terminationGracePeriodSeconds: spec.terminationGracePeriodSeconds,
        }),
      };
      return ref(pods.create({ apiVersion: 'v1', kind: 'Pod', metadata, spec: podSpec }, spec.phase));
    },
    addService: (spec: ServiceSpec): ObjectRef => {
      inNamespace(spec);
      services += 1;
      return ref(store.create('services', serviceBody(spec, services)));
    },
    addIngress: (spec: IngressSpec): ObjectRef => {
      inNamespace(spec);
      return ref(store.create('ingresses', ingressBody(spec)));
    },
    addEvent: (spec: EventSpec): ObjectRef => {
      ensureNamespace(spec.namespace ?? spec.involvedObject.namespace ?? 'default');
      return ref(store.create('events', eventBody(spec, clock.now())));
    },

    pod: (target: PodRef): Pod | undefined => store.get('pods', target.namespace, target.name) as Pod | undefined,
    list: (kind: Listable, namespace?: string): KubeObject[] => store.list(kind, namespace),
    setPodPhase: (target: PodRef, phase: PodPhase): void => void pods.setPhase(target, phase),
    /** The container was OOM-killed (exit 137) and restarted: running again, restartCount + 1. */
    oomKill(target: PodRef, container?: string): void {
      const pod = pods.get(target);
      pods.setStatus(pod, afterOomKill(pod, container ?? firstContainer(target), clock.now()));
    },
    /** Evicted by the kubelet: phase Failed, reason Evicted, a DisruptionTarget condition, a Warning event. */
    evict(target: PodRef): void {
      const pod = pods.get(target);
      pods.setStatus(pod, afterTermination(pod, clock.now(), 'Evicted', evictionMessage, true));
      const involvedObject = { kind: 'Pod', name: target.name, namespace: target.namespace, uid: pod.metadata.uid };
      store.create(
        'events',
        eventBody({ involvedObject, reason: 'Evicted', message: evictionMessage, type: 'Warning' }, clock.now()),
      );
    },
    failPod(target: PodRef, reason: string, message = ''): void {
      const pod = pods.get(target);
      pods.setStatus(pod, afterTermination(pod, clock.now(), reason, message, false));
    },
    /**
     * The node's kubelet stops answering: the node goes Ready=Unknown with the unreachable taints,
     * its pods' Ready condition goes False (what the node lifecycle controller does), exec into
     * them fails, and a pod deleted there stays Terminating, as nothing confirms its end, until it
     * is force-deleted (grace 0) or the node comes back.
     */
    loseNode(name: string): void {
      setNodeReachable(name, false);
      for (const pod of store.list('pods') as Pod[]) {
        if (pod.spec.nodeName !== name) continue;
        const conditions = pod.status.conditions.map((c) =>
          c.type === 'Ready' ? { ...c, status: 'False' as const, lastTransitionTime: timestamp(clock.now()) } : c,
        );
        pods.setStatus(pod, { ...pod.status, conditions });
      }
    },
    /** The kubelet answers again: the node is Ready, and the pods whose grace period passed meanwhile go. */
    restoreNode(name: string): void {
      setNodeReachable(name, true);
      for (const pod of store.list('pods') as Pod[]) {
        if (pod.spec.nodeName !== name || pod.status.phase !== 'Running') continue;
        const conditions = pod.status.conditions.map((c) =>
          c.type === 'Ready' ? { ...c, status: 'True' as const, lastTransitionTime: timestamp(clock.now()) } : c,
        );
        pods.setStatus(pod, { ...pod.status, conditions });
      }
      for (const listener of restoredListeners) listener(name);
      pods.tick();
    },
    /** Called with the node's name when restoreNode brings it back; returns an unsubscribe function. */
    onNodeRestored: (listener: (node: string) => void): (() => void) => {
      restoredListeners.add(listener);
      return () => restoredListeners.delete(listener);
    },
    /** The nodes lost with loseNode and not restored. */
    lostNodes: (): string[] => [...pods.lostNodes].sort(),
    /** Gone at once, without a grace period, as if someone else deleted it with --force. */
    deleteBehindOurBack: (target: PodRef): void => void pods.removeNow(target),
    /** Removes pods whose grace period has passed by the clock (call after advancing a ManualClock). */
    tick: (): number => pods.tick(),
    /** Forgets the change history: watches from any earlier resourceVersion now get 410 Gone. */
    compact: (): void => store.compact(),
    /** Cuts every open watch stream, as an API server restart or a proxy reset does; returns how many. */
    dropWatches: (): number => dropWatches(store),
    /** Called with the last state of every pod that disappears; returns an unsubscribe function. */
    onPodGone: (listener: (pod: Pod) => void): (() => void) => pods.onGone(listener),

    readFile(target: PodRef, path: string, container?: string): string | undefined {
      try {
        return files(target, container).read(path).toString('utf8');
      } catch (err) {
        if (err instanceof FsError) return undefined;
        throw err;
      }
    },
    writeFile: (target: PodRef, path: string, content: string, container?: string): void =>
      files(target, container).write(path, Buffer.from(content)),
    listFiles: (target: PodRef, dir: string, container?: string): string[] => files(target, container).list(dir),
    broadcasts: (target?: PodRef): Broadcast[] =>
      pods.broadcasts.filter((b) => !target || (b.namespace === target.namespace && b.pod === target.name)),
    /** Which exec subprotocols the server accepts, preferred first; `['v4.channel.k8s.io']` imitates Kubernetes < 1.30. */
    setExecProtocols: (protocols: readonly ExecProtocol[]): void => {
      ctx.exec.protocols = [...protocols];
    },
    execs: (target?: PodRef): ExecRecord[] =>
      ctx.exec.records.filter((r) => !target || (r.namespace === target.namespace && r.pod === target.name)),
  };
}

export type KubeScenario = ReturnType<typeof createScenario>;

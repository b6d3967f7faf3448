/*
 * Server-side printing: the meta.k8s.io/v1 Table a real API server answers when a client (kubectl
 * get) asks for `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`. Pods get the real columns
 * and cell values (pkg/printers/internalversion/printers.go: printPod), namespaces, nodes and
 * services theirs; other types the default NAME / CREATED AT of the generic table convertor.
 */
import type { KubeObject } from './store.js';

interface Column {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

type Cell = string | number;

const column = (name: string, description: string, priority = 0, format = '', type = 'string'): Column => ({
  name,
  type,
  format,
  description,
  priority,
});

/** Whether the Accept header asks for a Table (kubectl lists it before plain JSON). */
export function wantsTable(accept: string | undefined): boolean {
  return (accept ?? '')
    .split(',')
    .some((part) => /;\s*as=Table/.test(part) && /;\s*g=meta\.k8s\.io/.test(part) && /;\s*v=v1(beta1)?\b/.test(part));
}

/** apimachinery duration.HumanDuration, as kubectl shows ages. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8)
    return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  const years = Math.floor(hours / 24 / 365);
  if (years < 8) return `${years}y${Math.floor(hours / 24) % 365}d`;
  return `${years}y`;
}

const age = (object: KubeObject, now: Date) =>
  humanDuration(now.getTime() - Date.parse(object.metadata.creationTimestamp));

interface ContainerStatusShape {
  ready?: boolean;
  restartCount?: number;
  state?: { waiting?: { reason?: string }; terminated?: { reason?: string; exitCode?: number; signal?: number } };
  lastState?: { terminated?: { finishedAt?: string } };
}

/** printPod's STATUS: phase, then the pod's reason, then a container's waiting or terminated reason, Terminating last. */
function podStatusCell(pod: KubeObject): string {
  const status = (pod.status ?? {}) as { phase?: string; reason?: string; containerStatuses?: ContainerStatusShape[] };
  let reason = status.reason ?? status.phase ?? 'Unknown';
  for (const c of [...(status.containerStatuses ?? [])].reverse()) {
    const waiting = c.state?.waiting?.reason;
    const terminated = c.state?.terminated;
    if (waiting) reason = waiting;
    else if (terminated?.reason) reason = terminated.reason;
    else if (terminated)
      reason = terminated.signal ? `Signal:${terminated.signal}` : `ExitCode:${terminated.exitCode ?? 0}`;
  }
  if (pod.metadata.deletionTimestamp !== undefined && status.reason !== 'NodeLost') return 'Terminating';
  if (status.reason === 'NodeLost') return 'Unknown';
  return reason;
}

function podCells(pod: KubeObject, now: Date): Cell[] {
  const spec = pod.spec as { containers?: unknown[]; nodeName?: string };
  const status = (pod.status ?? {}) as {
    podIP?: string;
    nominatedNodeName?: string;
    containerStatuses?: ContainerStatusShape[];
  };
  const statuses = status.containerStatuses ?? [];
  const ready = statuses.filter((c) => c.ready).length;
  const restarts = statuses.reduce((n, c) => n + (c.restartCount ?? 0), 0);
  const lastFinished = statuses
    .map((c) => c.lastState?.terminated?.finishedAt)
    .filter((t): t is string => t !== undefined)
    .sort()
    .at(-1);
  const restartCell =
    lastFinished === undefined
      ? String(restarts)
      : `${restarts} (${humanDuration(now.getTime() - Date.parse(lastFinished))} ago)`;
  return [
    pod.metadata.name,
    `${ready}/${spec.containers?.length ?? 0}`,
    podStatusCell(pod),
    restartCell,
    age(pod, now),
    status.podIP ?? '<none>',
    spec.nodeName ?? '<none>',
    status.nominatedNodeName ?? '<none>',
    '<none>',
  ];
}

function nodeStatusCell(node: KubeObject): string {
  const conditions = (node.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? [];
  const ready = conditions.find((c) => c.type === 'Ready');
  return ready?.status === 'True' ? 'Ready' : ready?.status === 'False' ? 'NotReady' : 'Unknown';
}

function servicePorts(service: KubeObject): string {
  const ports = (service.spec as { ports?: { port: number; nodePort?: number; protocol?: string }[] }).ports ?? [];
  return ports.length === 0
    ? '<none>'
    : ports.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`).join(',');
}

interface Printer {
  columns: Column[];
  cells(object: KubeObject, now: Date): Cell[];
}

const nameColumn = column('Name', 'Name must be unique within a namespace.', 0, 'name');
const ageColumn = column(
  'Age',
  'CreationTimestamp is a timestamp representing the server time when this object was created.',
);

const printers: Record<string, Printer> = {
  pods: {
    columns: [
      nameColumn,
      column('Ready', 'The aggregate readiness state of this pod for accepting traffic.'),
      column('Status', 'The aggregate status of the containers in this pod.'),
      column(
        'Restarts',
        'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.',
      ),
      ageColumn,
      column(
        'IP',
        'IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.',
        1,
      ),
      column('Node', 'NodeName is a request to schedule this pod onto a specific node.', 1),
      column('Nominated Node', 'nominatedNodeName is set only when this pod preempts other pods on the node.', 1),
      column('Readiness Gates', 'If specified, all readiness gates will be evaluated for pod readiness.', 1),
    ],
    cells: podCells,
  },
  namespaces: {
    columns: [nameColumn, column('Status', 'The status of the namespace'), ageColumn],
    cells: (ns, now) => [
      ns.metadata.name,
      (ns.status as { phase?: string } | undefined)?.phase ?? 'Active',
      age(ns, now),
    ],
  },
  nodes: {
    columns: [
      nameColumn,
      column('Status', 'The status of the node'),
      column('Roles', 'The roles of the node'),
      ageColumn,
      column('Version', 'Kubelet Version reported by the node.'),
    ],
    cells: (node, now) => [
      node.metadata.name,
      nodeStatusCell(node),
      '<none>',
      age(node, now),
      (node.status as { nodeInfo?: { kubeletVersion?: string } } | undefined)?.nodeInfo?.kubeletVersion ?? '',
    ],
  },
  services: {
    columns: [
      nameColumn,
      column('Type', 'The type of service.'),
      column('Cluster-IP', 'The IP address of the service.'),
      column('External-IP', 'The external IPs of the service.'),
      column('Port(s)', 'The ports exposed by the service.'),
      ageColumn,
      column('Selector', 'Route service traffic to pods with label keys and values matching this selector.', 1),
    ],
    cells: (svc, now) => {
      const spec = svc.spec as { type?: string; clusterIP?: string; selector?: Record<string, string> };
      const selector =
        Object.entries(spec.selector ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(',') || '<none>';
      return [
        svc.metadata.name,
        spec.type ?? 'ClusterIP',
        spec.clusterIP ?? '<none>',
        '<none>',
        servicePorts(svc),
        age(svc, now),
        selector,
      ];
    },
  },
};

const genericPrinter: Printer = {
  columns: [
    nameColumn,
    column(
      'Created At',
      'CreationTimestamp is a timestamp representing the server time when this object was created.',
      0,
      'date-time',
      'date',
    ),
  ],
  cells: (object) => [object.metadata.name, object.metadata.creationTimestamp],
};

/** What each row carries: `includeObject=Metadata` (the default), `Object` or `None`. */
function rowObject(object: KubeObject, include: string | null): object | undefined {
  if (include === 'None') return undefined;
  if (include === 'Object') return object;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: object.metadata };
}

export interface TableOptions {
  plural: string;
  now: Date;
  includeObject: string | null;
  /** Watch events after the first leave the column definitions out, as the real server does. */
  noHeaders?: boolean;
  listMetadata?: Record<string, unknown>;
}

export function tableOf(objects: KubeObject[], options: TableOptions): object {
  const printer = printers[options.plural] ?? genericPrinter;
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: options.listMetadata ?? {},
    columnDefinitions: options.noHeaders ? null : printer.columns,
    rows: objects.map((object) => {
      const row = rowObject(object, options.includeObject);
      return { cells: printer.cells(object, options.now), ...(row && { object: row }) };
    }),
  };
}

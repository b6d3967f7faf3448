/*
 * Bodies of the objects tests and the demo seed put into the cluster, filled in the way the API
 * server and controllers would (cluster IPs, node ports, a Ready node, an event's timestamps).
 */
import { randomBytes } from 'node:crypto';
import type { NewObject } from './store.js';
import { timestamp } from './status.js';

export interface ServiceSpec {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  type?: 'ClusterIP' | 'NodePort';
  ports?: { port: number; targetPort?: number; nodePort?: number; name?: string }[];
  selector?: Record<string, string>;
}

export interface IngressSpec {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  host?: string;
  serviceName?: string;
  servicePort?: number;
}

export interface EventSpec {
  namespace?: string;
  involvedObject: { kind: string; name: string; namespace?: string; uid?: string };
  reason: string;
  message: string;
  type?: 'Normal' | 'Warning';
  component?: string;
}

export interface NodeSpec {
  name: string;
  labels?: Record<string, string>;
}

export function serviceBody(spec: ServiceSpec, serial: number): NewObject {
  const type = spec.type ?? 'ClusterIP';
  const clusterIP = `10.96.${Math.floor(serial / 250)}.${(serial % 250) + 2}`;
  const ports = (spec.ports ?? [{ port: 22, name: 'ssh' }]).map((port, index) => ({
    protocol: 'TCP',
    ...port,
    targetPort: port.targetPort ?? port.port,
    ...(type === 'NodePort' && { nodePort: port.nodePort ?? 30000 + ((serial * 7 + index) % 2768) }),
  }));
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: spec.name, namespace: spec.namespace ?? 'default', ...(spec.labels && { labels: spec.labels }) },
    spec: {
      type,
      clusterIP,
      clusterIPs: [clusterIP],
      ports,
      ...(spec.selector && { selector: spec.selector }),
      sessionAffinity: 'None',
    },
    status: { loadBalancer: {} },
  };
}

export function ingressBody(spec: IngressSpec): NewObject {
  const backend = { service: { name: spec.serviceName ?? spec.name, port: { number: spec.servicePort ?? 80 } } };
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: {
      name: spec.name,
      namespace: spec.namespace ?? 'default',
      ...(spec.labels && { labels: spec.labels }),
      ...(spec.annotations && { annotations: spec.annotations }),
    },
    spec: {
      rules: [{ ...(spec.host && { host: spec.host }), http: { paths: [{ path: '/', pathType: 'Prefix', backend }] } }],
    },
    status: { loadBalancer: {} },
  };
}

export function eventBody(spec: EventSpec, now: Date): NewObject {
  const namespace = spec.namespace ?? spec.involvedObject.namespace ?? 'default';
  const at = timestamp(now);
  const component = spec.component ?? 'kubelet';
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${spec.involvedObject.name}.${randomBytes(8).toString('hex')}`, namespace },
    involvedObject: { apiVersion: 'v1', namespace, ...spec.involvedObject },
    reason: spec.reason,
    message: spec.message,
    type: spec.type ?? 'Normal',
    source: { component },
    reportingComponent: component,
    reportingInstance: '',
    firstTimestamp: at,
    lastTimestamp: at,
    count: 1,
    eventTime: null,
  };
}

export function nodeBody(spec: NodeSpec, now: Date): NewObject {
  const at = timestamp(now);
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: spec.name,
      labels: { 'kubernetes.io/hostname': spec.name, 'kubernetes.io/os': 'linux', ...spec.labels },
    },
    spec: {},
    status: {
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          message: 'kubelet is posting ready status',
          lastHeartbeatTime: at,
          lastTransitionTime: at,
        },
      ],
      addresses: [
        { type: 'InternalIP', address: '10.0.0.10' },
        { type: 'Hostname', address: spec.name },
      ],
      capacity: { cpu: '8', memory: '32Gi', pods: '110' },
      allocatable: { cpu: '8', memory: '32Gi', pods: '110' },
      nodeInfo: { kubeletVersion: 'v1.31.0-devenv-sim', operatingSystem: 'linux', architecture: 'amd64' },
    },
  };
}

export function namespaceBody(name: string, labels: Record<string, string> = {}): NewObject {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...labels } },
    spec: { finalizers: ['kubernetes'] },
    status: { phase: 'Active' },
  };
}

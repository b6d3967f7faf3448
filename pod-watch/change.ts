/*
 * pod-watch's decisions, pure: is this pod ours, does a change matter to the consumers, and which
 * CloudEvent does it make?
 * The event has the shape Knative's ApiServerSource sends in Resource mode (type
 * dev.knative.apiserver.resource.add|update|delete, the Pod as data, subject
 * /apis/v1/namespaces/<ns>/pods/<name>, extensions kind, name, namespace, apiversion), so a
 * consumer never cares which platform saw the change.
 */
import { createHash } from 'node:crypto';
import type { CloudEventV1 } from 'cloudevents';
import { EventTypes } from '../shared/events/types.js';
import { summarizePod } from '../shared/kube/pod-summary.js';

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** The Pod as JSON (timestamps as strings), as the API server sends it. */
export interface PodJson {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    managedFields?: unknown;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export interface ChangePolicy {
  /** Pods carrying this label (with a value) are reservation pods; no other pod leaves the cluster. */
  reservationLabel: string;
  source: string;
}

const TYPES = { ADDED: EventTypes.podAdded, MODIFIED: EventTypes.podUpdated, DELETED: EventTypes.podDeleted } as const;

export type PodChangeEvent = CloudEventV1<PodJson> & { type: (typeof TYPES)[ChangeType] };

export function isOurs(pod: PodJson, reservationLabel: string): boolean {
  const value = pod.metadata?.labels?.[reservationLabel];
  return typeof value === 'string' && value !== '';
}

/**
 * Whether an update changes anything the consumers read. Both read a pod through summarizePod
 * (phase, conditions, container states and restarts, deletion, labels), so an update that leaves
 * the summary alone (a readiness flip, an annotation, kubelet bookkeeping) is not worth an event.
 */
function changesForConsumers(previous: PodJson, pod: PodJson): boolean {
  return JSON.stringify(summarizePod(previous)) !== JSON.stringify(summarizePod(pod));
}

/**
 * The event for one change, or undefined when the pod is not ours, cannot be named, or (given the
 * previous state of an update) changed nothing a consumer reads.
 */
export function podChangeEvent(
  type: ChangeType,
  pod: PodJson,
  policy: ChangePolicy,
  now: Date,
  previous?: PodJson,
): PodChangeEvent | undefined {
  const { name, namespace, uid } = pod.metadata ?? {};
  if (!name || !namespace || !uid || !isOurs(pod, policy.reservationLabel)) return undefined;
  if (type === 'MODIFIED' && previous && !changesForConsumers(previous, pod)) return undefined;
  return {
    specversion: '1.0',
    id: eventId(type, uid, pod.metadata?.resourceVersion ?? ''),
    type: TYPES[type],
    source: policy.source,
    subject: `/apis/v1/namespaces/${namespace}/pods/${name}`,
    time: now.toISOString(),
    datacontenttype: 'application/json',
    kind: 'Pod',
    name,
    namespace,
    apiversion: 'v1',
    data: withoutManagedFields(pod),
  };
}

/**
 * The same change seen twice (a restart lists every pod again) gets the same id, so consumers,
 * idempotent on (source, id), answer it as a duplicate instead of doing the work again.
 */
function eventId(type: ChangeType, uid: string, resourceVersion: string): string {
  const hex = createHash('sha256').update(`${uid}\n${resourceVersion}\n${type}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** managedFields is bookkeeping no consumer reads and often half the object; the rest passes as is. */
function withoutManagedFields(pod: PodJson): PodJson {
  const { managedFields: _dropped, ...metadata } = pod.metadata ?? {};
  return { ...pod, apiVersion: pod.apiVersion ?? 'v1', kind: pod.kind ?? 'Pod', metadata };
}

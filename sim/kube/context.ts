/*
 * What every request handler works on: the object store, the pod lifecycle, exec and the clock,
 * plus the request's target (resource type, namespace, name, subresource) parsed from its path.
 */
import type { Clock } from '../../shared/clock.js';
import type { ExecServer } from './exec.js';
import type { Pods } from './pods.js';
import type { ResourceType } from './resources.js';
import type { ObjectStore } from './store.js';

export interface KubeContext {
  store: ObjectStore;
  pods: Pods;
  exec: ExecServer;
  clock: Clock;
}

export interface Target {
  type: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
}

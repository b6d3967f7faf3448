/*
 * The resource types the simulator serves, in one table that routing, discovery and field
 * selectors all read, so a type is either fully served or not at all.
 */
export interface ResourceType {
  plural: string;
  singular: string;
  kind: string;
  group: '' | 'networking.k8s.io';
  namespaced: boolean;
  shortNames: string[];
  /** Field selector labels the real server accepts for this type; anything else is a 400. */
  fields: readonly string[];
}

const objectFields = ['metadata.name', 'metadata.namespace'] as const;

export const resourceTypes: readonly ResourceType[] = [
  {
    plural: 'pods',
    singular: 'pod',
    kind: 'Pod',
    group: '',
    namespaced: true,
    shortNames: ['po'],
    fields: [
      ...objectFields,
      'spec.nodeName',
      'spec.restartPolicy',
      'spec.schedulerName',
      'spec.serviceAccountName',
      'status.phase',
      'status.podIP',
      'status.nominatedNodeName',
    ],
  },
  {
    plural: 'services',
    singular: 'service',
    kind: 'Service',
    group: '',
    namespaced: true,
    shortNames: ['svc'],
    fields: objectFields,
  },
  {
    plural: 'events',
    singular: 'event',
    kind: 'Event',
    group: '',
    namespaced: true,
    shortNames: ['ev'],
    fields: [
      ...objectFields,
      'involvedObject.kind',
      'involvedObject.name',
      'involvedObject.namespace',
      'involvedObject.uid',
      'involvedObject.apiVersion',
      'involvedObject.resourceVersion',
      'involvedObject.fieldPath',
      'reason',
      'type',
      'source',
      'reportingComponent',
    ],
  },
  {
    plural: 'nodes',
    singular: 'node',
    kind: 'Node',
    group: '',
    namespaced: false,
    shortNames: ['no'],
    fields: ['metadata.name'],
  },
  {
    plural: 'namespaces',
    singular: 'namespace',
    kind: 'Namespace',
    group: '',
    namespaced: false,
    shortNames: ['ns'],
    fields: ['metadata.name', 'status.phase'],
  },
  {
    plural: 'ingresses',
    singular: 'ingress',
    kind: 'Ingress',
    group: 'networking.k8s.io',
    namespaced: true,
    shortNames: ['ing'],
    fields: objectFields,
  },
];

export function apiVersionOf(type: ResourceType): string {
  return type.group ? `${type.group}/v1` : 'v1';
}

export function resourceType(group: string, plural: string): ResourceType | undefined {
  return resourceTypes.find((t) => t.group === group && t.plural === plural);
}

export function resourceTypeByPlural(plural: string): ResourceType {
  const type = resourceTypes.find((t) => t.plural === plural);
  if (!type) throw new Error(`the simulator serves no resource "${plural}"`);
  return type;
}

/*
 * OpenAPI v3, just enough for kubectl: `kubectl apply` (and create, replace) validate by default,
 * and kubectl validates on the server when the group-version's OpenAPI v3 document shows a PATCH
 * operation for the kind that takes the `fieldValidation` query parameter
 * (kubectl: resource.QueryParamVerifierV3, supportsQueryParamV3). It then sends
 * `fieldValidation=Strict` and needs no schema. So each document lists, per served kind, the
 * object path with its GET and PATCH operations and their parameters; there are no schemas.
 * /openapi/v2 stays a 404: kubectl only falls back to it when v3 is missing.
 */
import type { ResourceType } from './resources.js';
import { resourceTypes } from './resources.js';

const version = 'v1.31.0-devenv-sim';
const groups = [
  { group: '', path: 'api/v1' },
  { group: 'networking.k8s.io', path: 'apis/networking.k8s.io/v1' },
] as const;

const queryParam = (name: string, description: string) => ({
  name,
  in: 'query',
  description,
  schema: { type: 'string', uniqueItems: true },
});
const pathParam = (name: string) => ({
  name,
  in: 'path',
  required: true,
  schema: { type: 'string', uniqueItems: true },
});

function objectPath(type: ResourceType): [string, object] {
  const base = type.group ? `/apis/${type.group}/v1` : '/api/v1';
  const path = `${base}/${type.namespaced ? 'namespaces/{namespace}/' : ''}${type.plural}/{name}`;
  const gvk = { group: type.group, version: 'v1', kind: type.kind };
  const ok = { description: 'OK', content: { 'application/json': { schema: {} } } };
  const operation = (action: string, parameters: object[], extra: object = {}) => ({
    operationId: `${action}${type.kind}`,
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': gvk,
    parameters,
    responses: { '200': ok },
    ...extra,
  });
  const patchBody = { required: true, content: { 'application/merge-patch+json': { schema: {} } } };
  return [
    path,
    {
      get: operation('get', []),
      patch: operation(
        'patch',
        [
          queryParam('dryRun', 'When present, indicates that modifications should not be persisted.'),
          queryParam(
            'fieldManager',
            'fieldManager is a name associated with the actor or entity that is making these changes.',
          ),
          queryParam(
            'fieldValidation',
            'fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields.',
          ),
        ],
        { requestBody: patchBody },
      ),
      parameters: [pathParam('name'), ...(type.namespaced ? [pathParam('namespace')] : [])],
    },
  ];
}

function groupVersionDocument(group: string): object {
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version },
    paths: Object.fromEntries(resourceTypes.filter((t) => t.group === group).map(objectPath)),
    components: {},
  };
}

/** The OpenAPI v3 document at `path`, or undefined when `path` is not one. */
export function openApiDocument(path: string): object | undefined {
  if (path === '/openapi/v3') {
    return {
      paths: Object.fromEntries(
        groups.map((g) => [g.path, { serverRelativeURL: `/openapi/v3/${g.path}?hash=${version}` }]),
      ),
    };
  }
  const group = groups.find((g) => path === `/openapi/v3/${g.path}`);
  return group && groupVersionDocument(group.group);
}

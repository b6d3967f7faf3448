/*
 * Discovery documents, so kubectl and the client's generic KubernetesObjectApi can find the served
 * types. Only the legacy (unaggregated) documents are served: asked for the aggregated
 * apidiscovery.k8s.io format, the server answers plain JSON and clients fall back, as they do
 * against API servers older than 1.27. OpenAPI v3 is served as far as kubectl needs it (openapi.ts);
 * /openapi/v2 is a 404.
 */
import type { ResourceType } from './resources.js';
import { resourceTypes } from './resources.js';
import { openApiDocument } from './openapi.js';

const networking = 'networking.k8s.io';

function verbsOf(type: ResourceType): string[] {
  const base = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
  return type.namespaced ? ['deletecollection', ...base].sort() : base;
}

function resourceList(group: string): object {
  const groupVersion = group ? `${group}/v1` : 'v1';
  const resources = resourceTypes
    .filter((t) => t.group === group)
    .flatMap((type) => {
      const main = {
        name: type.plural,
        singularName: type.singular,
        namespaced: type.namespaced,
        kind: type.kind,
        verbs: verbsOf(type),
        shortNames: type.shortNames,
      };
      const exec = {
        name: 'pods/exec',
        singularName: '',
        namespaced: true,
        kind: 'PodExecOptions',
        verbs: ['create', 'get'],
      };
      return type.plural === 'pods' ? [main, exec] : [main];
    });
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources };
}

const groupVersion = { groupVersion: `${networking}/v1`, version: 'v1' };
const networkingGroup = { name: networking, versions: [groupVersion], preferredVersion: groupVersion };

/** The discovery document at `path`, or undefined when the path is not a discovery path. */
export function discoveryDocument(path: string, serverAddress: string): object | undefined {
  switch (path) {
    case '/version':
      return {
        major: '1',
        minor: '31',
        gitVersion: 'v1.31.0-devenv-sim',
        gitCommit: 'simulator',
        gitTreeState: 'clean',
        buildDate: '2026-01-01T00:00:00Z',
        goVersion: 'go1.22.0',
        compiler: 'gc',
        platform: 'linux/amd64',
      };
    case '/api':
      return {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
      };
    case '/apis':
      return { kind: 'APIGroupList', apiVersion: 'v1', groups: [networkingGroup] };
    case '/api/v1':
      return resourceList('');
    case `/apis/${networking}`:
      return { kind: 'APIGroup', apiVersion: 'v1', ...networkingGroup };
    case `/apis/${networking}/v1`:
      return resourceList(networking);
    default:
      return openApiDocument(path);
  }
}

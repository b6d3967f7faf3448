/* k8s/openfaas/pod-watch.yaml: valid Kubernetes objects, least privilege, locked-down container. */
import { readFileSync } from 'node:fs';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ServiceAccount } from 'kubernetes-models/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';

const docs = parseAllDocuments(readFileSync('k8s/openfaas/pod-watch.yaml', 'utf8')).map(
  (doc) => doc.toJS() as { kind: string } & Record<string, unknown>,
);
const byKind = (kind: string): unknown[] => docs.filter((doc) => doc.kind === kind);
const models = { ServiceAccount, Role, RoleBinding, Deployment } as const;

describe('pod-watch manifest', () => {
  it('holds a ServiceAccount, a Role, a RoleBinding and a Deployment, each valid against the Kubernetes schema', () => {
    expect(docs.map((doc) => doc.kind)).toEqual(['ServiceAccount', 'Role', 'RoleBinding', 'Deployment']);
    for (const doc of docs)
      expect(() => new models[doc.kind as keyof typeof models](doc as never).validate()).not.toThrow();
  });

  it('may only get, list and watch pods in the reservations namespace, bound to its own account', () => {
    const [role] = byKind('Role') as { metadata: { namespace: string }; rules: object[] }[];
    expect(role!.metadata.namespace).toBe('gpu-dev');
    expect(role!.rules).toEqual([{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }]);
    const [binding] = byKind('RoleBinding') as { subjects: { name: string; namespace: string }[] }[];
    const [account] = byKind('ServiceAccount') as { metadata: { name: string; namespace: string } }[];
    expect(binding!.subjects).toEqual([
      { kind: 'ServiceAccount', name: account!.metadata.name, namespace: account!.metadata.namespace },
    ]);
    expect(byKind('ClusterRole')).toEqual([]);
  });

  it('runs one non-root replica with a read-only root, no escalation, no capabilities, RuntimeDefault seccomp, resources and probes', () => {
    const deployment = new Deployment(byKind('Deployment')[0] as never);
    const pod = deployment.spec!.template.spec!;
    const container = pod.containers[0]!;
    expect(deployment.spec!.replicas).toBe(1);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(container.resources?.limits).toHaveProperty('memory');
    expect(container.resources?.requests).toHaveProperty('cpu');
    expect(container.livenessProbe?.httpGet?.path).toBe('/healthz');
    expect(container.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(pod.serviceAccountName).toBe('devenv-lifecycle-pod-watch');
  });
});

/*
 * Every Kubernetes object under k8s/, parsed, with the maintained schema package that validates
 * its kind (kubernetes-models for the core APIs, @kubernetes-models/knative for Knative). Helm
 * values, the OpenFaaS environment file, the kustomization and the Prometheus rule file are not
 * API objects.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as knativeEventing from '@kubernetes-models/knative/eventing.knative.dev/v1';
import * as knativeServing from '@kubernetes-models/knative/serving.knative.dev/v1';
import * as knativeSources from '@kubernetes-models/knative/sources.knative.dev/v1';
import * as apps from 'kubernetes-models/apps/v1';
import * as rbac from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import * as core from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';

export const NOT_API_OBJECTS = new Set([
  'k8s/openfaas/openfaas-values.yaml',
  'k8s/openfaas/cron-connector-values.yaml',
  'k8s/openfaas/function-env.yml',
  'k8s/knative/kustomization.yaml',
  'k8s/observability/prometheus-rules.yml',
]);

type Model = new (data: never) => { validate(): void };
const schemas: Record<string, Record<string, unknown>> = {
  v1: core,
  'apps/v1': apps,
  'rbac.authorization.k8s.io/v1': rbac,
  'serving.knative.dev/v1': knativeServing,
  'eventing.knative.dev/v1': knativeEventing,
  'sources.knative.dev/v1': knativeSources,
};

export function modelFor(apiVersion: string, kind: string): Model | undefined {
  return schemas[apiVersion]?.[kind] as Model | undefined;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  file: string;
  [field: string]: unknown;
}

export function yamlFiles(root: string, folder = 'k8s'): string[] {
  return readdirSync(join(root, folder), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.ya?ml$/.test(entry.name))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))
    .sort();
}

export function readDocuments(root: string, file: string): unknown[] {
  return parseAllDocuments(readFileSync(join(root, file), 'utf8'))
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
      return doc.toJS() as unknown;
    })
    .filter((doc) => doc !== null);
}

export function readObjects(root: string): KubeObject[] {
  return yamlFiles(root)
    .filter((file) => !NOT_API_OBJECTS.has(file))
    .flatMap((file) => readDocuments(root, file).map((doc) => ({ ...(doc as object), file }) as KubeObject));
}

export const ofKind = <T = KubeObject>(objects: KubeObject[], kind: string): (KubeObject & T)[] =>
  objects.filter((o) => o.kind === kind) as (KubeObject & T)[];

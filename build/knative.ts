/*
 * The Knative manifests that follow from stack.yml and the routing table, generated so they
 * cannot drift: a Service per function (the same image as OpenFaaS, the same environment,
 * secrets mounted where OpenFaaS mounts them), a PingSource per schedule, a Trigger per routed
 * event type and consumer, the Broker, the functions' ServiceAccounts and the shared settings.
 * `npm run build` rewrites them; a test fails when the committed files differ from what this
 * renders. Every delivery (Broker and Triggers) ends in the dead-letter sink, so an event that
 * keeps failing is kept for an operator instead of dropped.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IBroker } from '@kubernetes-models/knative/eventing.knative.dev/v1/Broker';
import type { ITrigger } from '@kubernetes-models/knative/eventing.knative.dev/v1/Trigger';
import type { IService } from '@kubernetes-models/knative/serving.knative.dev/v1/Service';
import type { IPingSource } from '@kubernetes-models/knative/sources.knative.dev/v1/PingSource';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { stringify } from 'yaml';
import { DEAD_LETTER_PATH } from '../shared/runtime/dead-letter-sink.js';
import { consumersOf } from '../shared/events/routing.js';
import { EventTypes, POD_EVENT_TYPES } from '../shared/events/types.js';
import type { EventType } from '../shared/events/types.js';
import { FUNCTION_NAMES } from '../shared/runtime/invocation.js';
import { gaugesExporter } from './knative-gauges.js';
import { durationSeconds, readSharedEnvironment, readStack } from './stack.js';
import type { StackFunction } from './stack.js';

const NAMESPACE = 'devenv-lifecycle';
const BROKER = 'devenv-lifecycle';
const SETTINGS = 'devenv-lifecycle-settings';
// Secrets a function can run without (IRSA instead of static keys; no webhook).
const OPTIONAL_SECRETS = new Set(['devenv-lifecycle-aws', 'devenv-lifecycle-webhook', 'devenv-lifecycle-actions']);
// Settings that differ on Knative: events go to the Broker through K_SINK (SinkBinding).
const PLATFORM_ONLY = new Set(['EVENT_DELIVERY', 'OPENFAAS_GATEWAY_URL']);
const partOf = { 'app.kubernetes.io/part-of': 'devenv-lifecycle' };
// The docker-registry Secret the functions' images are pulled with (`--image-pull-secret`).
// A missing Secret only logs a warning on the pod, so public images still pull without one.
export const DEFAULT_IMAGE_PULL_SECRET = 'devenv-lifecycle-registry';
// Every function serves the sink; expire runs every minute anyway, so its service is warm.
const DEAD_LETTER_HOST = 'expire';

const ref = (name: string) => ({ apiVersion: 'serving.knative.dev/v1', kind: 'Service', name });
const labelsOf = (name: string) => ({ 'app.kubernetes.io/name': name, ...partOf });

// faas-netes sets user 12000 (setNonRootUser); the template image's user is named, not numbered.
const containerSecurity = {
  runAsNonRoot: true,
  runAsUser: 12000,
  runAsGroup: 12000,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

// Typed with the schema package's interfaces, so a misspelt field fails the type check.
function service(fn: StackFunction): IService {
  const consumesEvents = (fn.annotations['devenv-lifecycle.dev/consumes'] ?? '') !== '';
  // Only a function people reach from outside (extend's action links) gets an external route.
  const visibility: Record<string, string> =
    fn.annotations['devenv-lifecycle.dev/public'] === 'true'
      ? {}
      : { 'networking.knative.dev/visibility': 'cluster-local' };
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: { name: fn.name, namespace: NAMESPACE, labels: { ...labelsOf(fn.name), ...visibility } },
    spec: {
      template: {
        metadata: {
          labels: labelsOf(fn.name),
          // Scheduled runs are single-flight anyway; event consumers may fan out a little.
          annotations: {
            'autoscaling.knative.dev/min-scale': '0',
            'autoscaling.knative.dev/max-scale': consumesEvents ? '3' : '1',
          },
        },
        spec: {
          serviceAccountName: `devenv-lifecycle-${fn.name}`,
          containerConcurrency: 10,
          // The request may last as long as the watchdog lets the run go on.
          timeoutSeconds: Math.ceil(durationSeconds(fn.environment.write_timeout ?? '60s')),
          containers: [
            {
              name: 'function',
              image: fn.image,
              ports: [{ containerPort: 8080 }],
              envFrom: [{ configMapRef: { name: SETTINGS } }],
              env: Object.entries(fn.ownEnvironment).map(([name, value]) => ({ name, value })),
              readinessProbe: { httpGet: { path: '/_/health' } },
              resources: { requests: fn.requests, limits: fn.limits },
              securityContext: containerSecurity,
              volumeMounts: [
                { name: 'secrets', mountPath: '/var/openfaas/secrets', readOnly: true },
                { name: 'tmp', mountPath: '/tmp' },
              ],
            },
          ],
          volumes: [
            {
              name: 'secrets',
              projected: {
                sources: fn.secrets.map((name) => ({
                  secret: OPTIONAL_SECRETS.has(name) ? { name, optional: true } : { name },
                })),
              },
            },
            // of-watchdog keeps its lock file in /tmp; the root filesystem is read-only.
            { name: 'tmp', emptyDir: { sizeLimit: '16Mi' } },
          ],
        },
      },
    },
  };
}

const deadLetterSink = () => ({ ref: ref(DEAD_LETTER_HOST), uri: DEAD_LETTER_PATH });

function serviceAccount(name: string, imagePullSecret: string): IServiceAccount {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: `devenv-lifecycle-${name}`, namespace: NAMESPACE, labels: labelsOf(name) },
    imagePullSecrets: [{ name: imagePullSecret }],
  };
}

// The Broker's policy covers a Trigger without its own; every Trigger here has its own.
function broker(): IBroker {
  return {
    apiVersion: 'eventing.knative.dev/v1',
    kind: 'Broker',
    metadata: { name: BROKER, namespace: NAMESPACE, labels: partOf },
    spec: {
      delivery: { retry: 5, backoffPolicy: 'exponential', backoffDelay: 'PT1S', deadLetterSink: deadLetterSink() },
    },
  };
}

function pingSource(fn: StackFunction): IPingSource {
  return {
    apiVersion: 'sources.knative.dev/v1',
    kind: 'PingSource',
    metadata: { name: `${fn.name}-schedule`, namespace: NAMESPACE, labels: labelsOf(fn.name) },
    spec: { schedule: fn.annotations.schedule, timezone: 'UTC', sink: { ref: ref(fn.name) } },
  };
}

/** `dev.devenv.lifecycle.reservation.expired` -> `reservation-expired`; pod changes -> `pod-update`. */
function triggerSuffix(type: EventType): string {
  return type
    .replace('dev.knative.apiserver.resource.', 'pod.')
    .replace('dev.devenv.lifecycle.', '')
    .replaceAll('.', '-');
}

function trigger(type: EventType, consumer: string): ITrigger {
  const podEvent = (POD_EVENT_TYPES as readonly string[]).includes(type);
  return {
    apiVersion: 'eventing.knative.dev/v1',
    kind: 'Trigger',
    metadata: { name: `${consumer}-${triggerSuffix(type)}`, namespace: NAMESPACE, labels: labelsOf(consumer) },
    spec: {
      broker: BROKER,
      filter: { attributes: podEvent ? { type, kind: 'Pod' } : { type } },
      subscriber: { ref: ref(consumer) },
      // 5xx, 404, 408, 409 and 429 are retried; a 400 (invalid event) goes to the sink at once.
      delivery: { retry: 5, backoffPolicy: 'exponential', backoffDelay: 'PT2S', deadLetterSink: deadLetterSink() },
    },
  };
}

function settingsMap(settings: Record<string, string>): IConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: SETTINGS, namespace: NAMESPACE, labels: partOf },
    data: { ...settings, EVENT_DELIVERY: 'knative' },
  };
}

export interface RenderOptions {
  imagePullSecret: string;
}

function renderKnative(root: string, { imagePullSecret }: RenderOptions): Record<string, object[]> {
  const stack = readStack(root);
  const functions = FUNCTION_NAMES.map((name) => stack.functions.find((fn) => fn.name === name)!);
  const settings = Object.fromEntries(
    Object.entries(readSharedEnvironment(root)).filter(([key]) => !PLATFORM_ONLY.has(key)),
  );
  const types = Object.values(EventTypes) as EventType[];
  return {
    'settings.yaml': [settingsMap(settings)],
    'services.yaml': functions.map(service),
    'serviceaccounts.yaml': functions.map((fn) => serviceAccount(fn.name, imagePullSecret)),
    'broker.yaml': [broker()],
    'pingsources.yaml': functions.filter((fn) => fn.annotations.topic === 'cron-function').map(pingSource),
    'triggers.yaml': types.flatMap((type) => consumersOf(type).map((consumer) => trigger(type, consumer))),
    // The fleet gauges, always on (functions scale to zero): pod-watch's image in its gauges-only mode.
    'gauges.yaml': gaugesExporter(
      stack.functions.find((fn) => fn.name === 'pod-watch')!,
      { namespace: NAMESPACE, settingsMap: SETTINGS, imagePullSecret, containerSecurity },
    ),
  };
}

const GENERATED_HEADER =
  '# Generated from stack.yml and the routing table by `npm run build` (build/knative.ts); do not edit.\n';

export function renderFiles(
  root: string,
  options: RenderOptions = { imagePullSecret: DEFAULT_IMAGE_PULL_SECRET },
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(renderKnative(root, options)).map(([file, docs]) => [
      file,
      GENERATED_HEADER + docs.map((doc) => stringify(doc, { lineWidth: 0 })).join('---\n'),
    ]),
  );
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
  const { values } = parseArgs({
    options: { 'image-pull-secret': { type: 'string', default: DEFAULT_IMAGE_PULL_SECRET } },
  });
  for (const [file, text] of Object.entries(renderFiles(root, { imagePullSecret: values['image-pull-secret'] })))
    writeFileSync(join(root, 'k8s', 'knative', file), text);
}

/*
 * k8s/ against the Kubernetes and Knative schemas, and against the code: the generated Knative
 * files are what stack.yml and the routing table render, schedules and subscriptions follow the
 * routing table, and nothing runs as root or with a writable root filesystem.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { DEFAULT_IMAGE_PULL_SECRET, renderFiles } from '../../build/knative.js';
import { readStack } from '../../build/stack.js';
import { DEAD_LETTER_PATH } from '../../shared/runtime/dead-letter-sink.js';
import { consumersOf, typesConsumedBy } from '../../shared/events/routing.js';
import { EventTypes } from '../../shared/events/types.js';
import type { EventType } from '../../shared/events/types.js';
import { FUNCTION_NAMES } from '../../shared/runtime/invocation.js';
import { NOT_API_OBJECTS, modelFor, ofKind, readObjects, yamlFiles } from './manifests.js';

const root = process.cwd();
const objects = readObjects(root);
const stack = readStack(root);
const functions = stack.functions.filter((fn) => (FUNCTION_NAMES as readonly string[]).includes(fn.name));

describe('every manifest under k8s/', () => {
  it('is a known API object that validates against its maintained schema', () => {
    expect(objects.length).toBeGreaterThan(40);
    for (const object of objects) {
      const Model = modelFor(object.apiVersion, object.kind);
      expect(Model, `${object.file}: no schema for ${object.apiVersion} ${object.kind}`).toBeDefined();
      const { file: _file, ...manifest } = object;
      expect(
        () => new Model!(manifest as never).validate(),
        `${object.file}: ${object.kind}/${object.metadata.name}`,
      ).not.toThrow();
    }
  });

  it('is checked for real: a wrongly typed field is refused by the same schemas', () => {
    const service = ofKind(objects, 'Service').find((o) => o.apiVersion === 'serving.knative.dev/v1')!;
    const broken = JSON.parse(JSON.stringify(service)) as {
      spec: { template: { spec: { containerConcurrency: unknown } } };
    };
    broken.spec.template.spec.containerConcurrency = 'ten';
    expect(() => new (modelFor(service.apiVersion, 'Service')!)(broken as never).validate()).toThrow(
      /containerConcurrency/,
    );
  });

  it('names each object once per namespace and kind, with the part-of label', () => {
    const keys = objects.map((o) => `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const object of objects)
      expect(object.metadata.labels?.['app.kubernetes.io/part-of'], object.metadata.name).toBe('devenv-lifecycle');
  });

  it('holds no cluster-wide RBAC', () => {
    expect(objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding')).toEqual([]);
  });
});

describe('generated Knative manifests', () => {
  it('are exactly what `npm run build` renders from stack.yml and the routing table', () => {
    for (const [file, text] of Object.entries(renderFiles(root))) {
      expect(readFileSync(`k8s/knative/${file}`, 'utf8'), `k8s/knative/${file} is stale: run npm run build`).toBe(text);
    }
  });

  it('are all applied by the kustomization, except the secret template', () => {
    const kustomization = parse(readFileSync('k8s/knative/kustomization.yaml', 'utf8')) as { resources: string[] };
    const files = readdirSync('k8s/knative').filter(
      (f) => f.endsWith('.yaml') && f !== 'kustomization.yaml' && f !== 'secrets.yaml',
    );
    expect([...kustomization.resources].sort()).toEqual(files.sort());
  });

  it('run one Service per function with the image, environment and secrets OpenFaaS gets', () => {
    const services = ofKind<{ spec: { template: { spec: KnativePodSpec } } }>(objects, 'Service').filter(
      (o) => o.apiVersion === 'serving.knative.dev/v1',
    );
    expect(services.map((s) => s.metadata.name).sort()).toEqual([...FUNCTION_NAMES].sort());
    for (const fn of functions) {
      const pod = services.find((s) => s.metadata.name === fn.name)!.spec.template.spec;
      const container = pod.containers[0]!;
      expect(container.image).toBe(fn.image);
      expect(Object.fromEntries(container.env.map((e) => [e.name, e.value]))).toEqual(fn.ownEnvironment);
      expect(pod.volumes.find((v) => v.name === 'secrets')?.projected?.sources.map((s) => s.secret.name)).toEqual(
        fn.secrets,
      );
      expect(container.volumeMounts).toContainEqual({
        name: 'secrets',
        mountPath: '/var/openfaas/secrets',
        readOnly: true,
      });
    }
  });
});

interface KnativePodSpec {
  timeoutSeconds: number;
  serviceAccountName: string;
  containers: { image: string; env: { name: string; value: string }[]; volumeMounts: object[] }[];
  volumes: { name: string; projected?: { sources: { secret: { name: string } }[] } }[];
}

describe('schedules and subscriptions', () => {
  it('PingSources fire each function on its stack.yml schedule, in UTC, straight to its Service', () => {
    const pings = ofKind<{ spec: { schedule: string; timezone: string; sink: { ref: { name: string } } } }>(
      objects,
      'PingSource',
    );
    const expected = functions.map((fn) => [fn.name, fn.annotations.schedule]);
    expect(pings.map((p) => [p.spec.sink.ref.name, p.spec.schedule])).toEqual(expected);
    expect(new Set(pings.map((p) => p.spec.timezone))).toEqual(new Set(['UTC']));
  });

  it('Triggers route exactly the routing table: every (type, consumer) once, nothing else', () => {
    const triggers = ofKind<{
      spec: { broker: string; filter: { attributes: { type: string } }; subscriber: { ref: { name: string } } };
    }>(objects, 'Trigger');
    const routed = (Object.values(EventTypes) as EventType[]).flatMap((type) =>
      consumersOf(type).map((fn) => `${type} -> ${fn}`),
    );
    expect(triggers.map((t) => `${t.spec.filter.attributes.type} -> ${t.spec.subscriber.ref.name}`).sort()).toEqual(
      routed.sort(),
    );
    expect(new Set(triggers.map((t) => t.spec.broker))).toEqual(new Set(['devenv-lifecycle']));
  });

  it("stack.yml names what each function consumes, as the routing table says, and pod-watch's consumers", () => {
    for (const fn of functions) {
      const declared = fn.annotations['devenv-lifecycle.dev/consumes'];
      expect(declared ? declared.split(',').sort() : [], fn.name).toEqual(typesConsumedBy(fn.name as never).sort());
    }
    const podWatch = stack.functions.find((fn) => fn.name === 'pod-watch')!;
    expect(podWatch.annotations['devenv-lifecycle.dev/emits-to']!.split(',')).toEqual([
      ...consumersOf(EventTypes.podUpdated),
    ]);
  });

  it('pod changes come from reservation pods only, as full objects, into the Broker', () => {
    const [source] = ofKind<{
      spec: { mode: string; resources: { kind: string; selector: object }[]; sink: { ref: { kind: string } } };
    }>(objects, 'ApiServerSource');
    expect(source!.spec).toMatchObject({ mode: 'Resource', sink: { ref: { kind: 'Broker' } } });
    expect(source!.spec.resources).toEqual([
      {
        apiVersion: 'v1',
        kind: 'Pod',
        selector: { matchExpressions: [{ key: 'reservation-id', operator: 'Exists' }] },
      },
    ]);
  });
});

interface Delivery {
  retry?: number;
  backoffPolicy?: string;
  backoffDelay?: string;
  deadLetterSink?: { ref?: { apiVersion: string; kind: string; name: string }; uri?: string };
}

describe('nothing that fails is lost', () => {
  const knativeServices = ofKind(objects, 'Service')
    .filter((o) => o.apiVersion === 'serving.knative.dev/v1')
    .map((o) => o.metadata.name);
  const deliveries = [...ofKind(objects, 'Broker'), ...ofKind(objects, 'Trigger')].map(
    (o) => [`${o.kind}/${o.metadata.name}`, (o.spec as { delivery?: Delivery }).delivery] as const,
  );

  it('there is a Broker, and Triggers for it', () => {
    expect(ofKind(objects, 'Broker').map((b) => b.metadata.name)).toEqual(['devenv-lifecycle']);
    expect(deliveries.length).toBeGreaterThan(1);
  });

  it.each(deliveries)(
    '%s retries with exponential backoff, then sends the event to the dead-letter sink',
    (_name, delivery) => {
      expect(delivery?.retry).toBeGreaterThanOrEqual(3);
      expect(delivery?.backoffPolicy).toBe('exponential');
      expect(delivery?.backoffDelay).toMatch(/^PT\d+(\.\d+)?S$/);
      // A relative uri is resolved against the ref's address: the path the function serves the sink on.
      expect(delivery?.deadLetterSink).toEqual({
        ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: expect.any(String) },
        uri: DEAD_LETTER_PATH,
      });
      expect(knativeServices).toContain(delivery!.deadLetterSink!.ref!.name);
    },
  );

  it('every function runs as a ServiceAccount that pulls with the registry secret, whose name the generator takes', () => {
    const accounts = ofKind<{ imagePullSecrets?: { name: string }[] }>(objects, 'ServiceAccount').filter(
      (o) => o.file === 'k8s/knative/serviceaccounts.yaml',
    );
    const used = ofKind<{ spec: { template: { spec: KnativePodSpec } } }>(objects, 'Service')
      .filter((o) => o.apiVersion === 'serving.knative.dev/v1')
      .map((o) => o.spec.template.spec.serviceAccountName);
    expect(accounts.map((a) => a.metadata.name).sort()).toEqual(used.sort());
    for (const account of accounts)
      expect(account.imagePullSecrets, account.metadata.name).toEqual([{ name: DEFAULT_IMAGE_PULL_SECRET }]);
    const custom = parseAllDocuments(renderFiles(root, { imagePullSecret: 'regcred' })['serviceaccounts.yaml']!).map(
      (d) => d.toJSON() as { imagePullSecrets: unknown },
    );
    expect(custom.map((a) => a.imagePullSecrets)).toEqual(used.map(() => [{ name: 'regcred' }]));
  });
});

describe('security', () => {
  const pods = objects.flatMap((o) => {
    const template = (o.spec as { template?: { spec?: PodSpec } } | undefined)?.template?.spec;
    return template ? [{ name: `${o.file}: ${o.kind}/${o.metadata.name}`, pod: template }] : [];
  });

  it.each(pods.map((p) => [p.name, p.pod] as const))(
    '%s runs non-root, read-only, unprivileged, no capabilities, RuntimeDefault seccomp',
    (_name, pod) => {
      for (const container of pod.containers) {
        const effective = { ...pod.securityContext, ...container.securityContext };
        expect(effective.runAsNonRoot).toBe(true);
        expect(effective.runAsUser ?? 1).toBeGreaterThan(0);
        expect(container.securityContext).toMatchObject({
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
        });
        expect(container.securityContext?.privileged ?? false).toBe(false);
        expect(effective.seccompProfile).toEqual({ type: 'RuntimeDefault' });
      }
      expect(pod.volumes?.some((v) => 'hostPath' in v) ?? false).toBe(false);
    },
  );

  it('covers every workload: the Knative Services, the pod-watch Deployment and the Knative fleet gauges Deployment', () => {
    expect(pods.length).toBe(FUNCTION_NAMES.length + 2);
  });

  it('stack.yml builds each function and pod-watch from its bundle, with the node22 template', () => {
    expect(stack.functions.map((fn) => fn.name).sort()).toEqual([...FUNCTION_NAMES, 'pod-watch'].sort());
    for (const fn of stack.functions)
      expect({ lang: fn.lang, handler: fn.handler }, fn.name).toEqual({
        lang: 'node22',
        handler: `./dist/openfaas/${fn.name}`,
      });
  });

  it('OpenFaaS functions have a read-only root, and faas-netes forces a non-root user', () => {
    for (const fn of stack.functions) expect(fn.readonlyRootFilesystem, fn.name).toBe(true);
    // The chart reads functions.setNonRootUser; a faasnetes.setNonRootUser would be ignored silently.
    const values = parse(readFileSync('k8s/openfaas/openfaas-values.yaml', 'utf8')) as {
      functions?: { setNonRootUser?: boolean };
      faasnetes: Record<string, unknown>;
    };
    expect(values.functions?.setNonRootUser).toBe(true);
    expect(values.faasnetes).not.toHaveProperty('setNonRootUser');
  });

  it('Helm values carry only keys the charts read', () => {
    // The cron-connector chart renders no securityContext from its values.
    const cron = parse(readFileSync('k8s/openfaas/cron-connector-values.yaml', 'utf8')) as Record<string, unknown>;
    expect(cron).not.toHaveProperty('securityContext');
    // The queue-worker runs more than one async job at a time, so a long cleanup-pod run does not hold the chain.
    const values = parse(readFileSync('k8s/openfaas/openfaas-values.yaml', 'utf8')) as {
      queueWorker: { maxInflight?: number };
    };
    expect(values.queueWorker.maxInflight).toBeGreaterThanOrEqual(FUNCTION_NAMES.length);
  });

  it('lists every YAML file it does not validate as an API object on purpose', () => {
    expect(
      yamlFiles(root)
        .filter((f) => NOT_API_OBJECTS.has(f))
        .sort(),
    ).toEqual([...NOT_API_OBJECTS].sort());
  });
});

interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  capabilities?: { drop?: string[] };
  seccompProfile?: { type: string };
}

interface PodSpec {
  securityContext?: SecurityContext;
  containers: { securityContext?: SecurityContext }[];
  volumes?: object[];
}

/*
 * RBAC derived from what the code does: every function runs against the simulated cluster over a
 * fleet that exercises each of its paths (warnings, expiry by deadline and by a vanished pod, an
 * OOM kill, a full teardown with services and ingresses, labs stuck in ENDING), every request the
 * real client sends is translated into the RBAC verb the API server checks, and each function's
 * Role must grant exactly that: nothing it lacks, nothing more.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { cleanupPod } from '../../functions/cleanup-pod/handler.js';
import { endingWatchdog } from '../../functions/ending-watchdog/handler.js';
import { expire } from '../../functions/expire/handler.js';
import { oomScan } from '../../functions/oom-scan/handler.js';
import { snapshotSync } from '../../functions/snapshot-sync/handler.js';
import { warn } from '../../functions/warn/handler.js';
import { DEMO_LAB_NAMESPACE, DEMO_NAMESPACE, demoLabs, demoReservations, podNameFor } from '../../local/demo-plan.js';
import { seedDemoCluster } from '../../local/demo-seed-cluster.js';
import { seedDemoDatabase } from '../../local/demo-seed-db.js';
import type { Deps } from '../../shared/deps.js';
import type { BaseOptions, FunctionDefinition } from '../../shared/runtime/invocation.js';
import type { RecordedRequest } from '../../sim/server.js';
import { insertReservation } from '../support/fixtures.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { ofKind, readObjects } from './manifests.js';

const h = useFunctionHarness({ AVAILABILITY_UPDATER_FUNCTION_NAME: 'gpu-dev-availability-updater' });
const objects = readObjects(process.cwd());
const observed = new Map<string, Set<string>>();

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };
const CE_RBAC = 'k8s/openfaas/ce/rbac.yaml';
const roles = ofKind<{ rules: Rule[] }>(objects, 'Role');

const KUBE_PATH = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)\/(?:namespaces\/([^/]+)\/)?([^/]+)(?:\/([^/]+)(?:\/([^/]+))?)?$/;

/** The permissions the API server checks for one request, as `namespace group/resource verb`. */
function permissionsFor(request: Pick<RecordedRequest, 'method' | 'path' | 'query'>): string[] {
  const match = KUBE_PATH.exec(request.path);
  if (!match) return [];
  const [, group = '', scope = '*cluster*', resource, name, subresource] = match;
  // The API server authorizes reading a namespace object inside that namespace, so a Role can grant it.
  const namespace = resource === 'namespaces' && name ? name : scope;
  const what = `${namespace} ${group}/${resource}${subresource ? `/${subresource}` : ''}`;
  // Exec upgrades a GET to a WebSocket: Kubernetes 1.30+ checks create, older releases get.
  if (subresource === 'exec') return [`${what} create`, `${what} get`];
  const verb =
    request.method === 'GET'
      ? name
        ? 'get'
        : request.query.get('watch') === 'true'
          ? 'watch'
          : 'list'
      : (({ DELETE: 'delete', POST: 'create', PUT: 'update', PATCH: 'patch' } as Record<string, string>)[
          request.method
        ] ?? request.method);
  return [`${what} ${verb}`];
}

function granted(fn: string): Set<string> {
  const role = roles.find((r) => r.metadata.name === `devenv-lifecycle-${fn}`);
  if (!role) return new Set();
  return new Set(
    role.rules.flatMap((rule) =>
      rule.apiGroups.flatMap((group) =>
        rule.resources.flatMap((resource) =>
          rule.verbs.map((verb) => `${role.metadata.namespace} ${group}/${resource} ${verb}`),
        ),
      ),
    ),
  );
}

async function runRecorded(fn: FunctionDefinition<BaseOptions, Deps>, times = 1): Promise<void> {
  for (let i = 0; i < times; i++) {
    h.sim.requests.clear();
    const result = await h.schedule(fn);
    expect(result.outcome, `${fn.name}: ${JSON.stringify(result)}`).not.toBe('failed');
    const seen = observed.get(fn.name) ?? new Set<string>();
    for (const request of h.sim.requests.all()) permissionsFor(request).forEach((p) => seen.add(p));
    observed.set(fn.name, seen);
    h.clock.advanceSeconds(61);
    h.sim.kube.tick();
  }
}

beforeAll(async () => {
  await seedDemoDatabase(h.deps.pool, h.clock.now());
  seedDemoCluster(h.sim);
  const expiring = demoReservations.find(
    (r) => r.expiresInMinutes !== null && r.expiresInMinutes < 0 && r.status === 'active',
  )!;
  h.sim.kube.addIngress({
    name: `${podNameFor(expiring.id)}-web`,
    namespace: DEMO_NAMESPACE,
    labels: { 'reservation-id': expiring.id },
  });
  h.sim.kube.addIngress({ name: 'lab-novnc', namespace: DEMO_LAB_NAMESPACE, labels: { 'lab-id': demoLabs[0]!.id } });
  // A reservation due for a warning whose pod an older writer created without our label: read by name.
  const unlabelled = await insertReservation(h.deps.pool, {
    expires_at: new Date(h.clock.now().getTime() + 10 * 60_000),
    launched_at: new Date(h.clock.now().getTime() - 3_600_000),
  });
  h.sim.kube.addPod({ name: unlabelled.pod_name!, namespace: DEMO_NAMESPACE });
  // One due for a warning whose pod is gone: the 404 counts only once the namespace is known to exist.
  await insertReservation(h.deps.pool, {
    expires_at: new Date(h.clock.now().getTime() + 12 * 60_000),
    launched_at: new Date(h.clock.now().getTime() - 3_600_000),
  });
  await runRecorded(warn as FunctionDefinition<BaseOptions, Deps>);
  await runRecorded(expire as FunctionDefinition<BaseOptions, Deps>, 2); // a vanished pod needs two 404s a minute apart
  await runRecorded(oomScan as FunctionDefinition<BaseOptions, Deps>);
  await runRecorded(endingWatchdog as unknown as FunctionDefinition<BaseOptions, Deps>);
  await runRecorded(cleanupPod as FunctionDefinition<BaseOptions, Deps>, 4);
  await runRecorded(snapshotSync as unknown as FunctionDefinition<BaseOptions, Deps>);
}, 60_000);

describe('RBAC derived from the calls each function makes', () => {
  it('the fleet exercised the destructive paths (so the comparison below means something)', async () => {
    const { rows } = await h.deps.pool.query<{ step: string }>('select step from cleanup_progress');
    expect(rows.map((r) => r.step)).toContain('done');
    expect(observed.get('cleanup-pod')).toContain(`${DEMO_NAMESPACE} networking.k8s.io/ingresses delete`);
    expect(observed.get('ending-watchdog')).toContain(`${DEMO_LAB_NAMESPACE} networking.k8s.io/ingresses delete`);
    expect(observed.get('expire')).toContain(`${DEMO_NAMESPACE} /pods get`);
    expect(observed.get('warn')).toContain(`${DEMO_NAMESPACE} /pods get`);
    for (const fn of ['warn', 'expire', 'cleanup-pod'])
      expect(observed.get(fn)).toContain(`${DEMO_NAMESPACE} /namespaces get`);
  });

  it.each(['warn', 'expire', 'cleanup-pod', 'snapshot-sync', 'oom-scan', 'ending-watchdog'])(
    '%s: its Role grants exactly what it calls',
    (fn) => {
      expect([...granted(fn)].sort()).toEqual([...(observed.get(fn) ?? [])].sort());
    },
  );

  it('a function that execs into pods gets pods/exec get and create, and nothing on pods beyond what it reads', () => {
    expect([...granted('warn')].filter((p) => p.includes('/pods/exec')).sort()).toEqual([
      `${DEMO_NAMESPACE} /pods/exec create`,
      `${DEMO_NAMESPACE} /pods/exec get`,
    ]);
    expect([...granted('oom-scan')].filter((p) => p.includes('/pods ')).sort()).toEqual([
      `${DEMO_NAMESPACE} /pods list`,
    ]);
  });

  it('translates requests into the verbs the API server checks', () => {
    const q = (s = '') => new URLSearchParams(s);
    expect(permissionsFor({ method: 'GET', path: '/api/v1/namespaces/a/pods', query: q('labelSelector=x') })).toEqual([
      'a /pods list',
    ]);
    expect(permissionsFor({ method: 'GET', path: '/api/v1/namespaces/a/pods', query: q('watch=true') })).toEqual([
      'a /pods watch',
    ]);
    expect(permissionsFor({ method: 'GET', path: '/api/v1/pods', query: q() })).toEqual(['*cluster* /pods list']);
    expect(
      permissionsFor({ method: 'DELETE', path: '/apis/networking.k8s.io/v1/namespaces/a/ingresses/i', query: q() }),
    ).toEqual(['a networking.k8s.io/ingresses delete']);
    expect(permissionsFor({ method: 'GET', path: '/api/v1/namespaces/a/pods/p/exec', query: q('command=sh') })).toEqual(
      ['a /pods/exec create', 'a /pods/exec get'],
    );
    expect(permissionsFor({ method: 'GET', path: '/api/v1/namespaces/a', query: q() })).toEqual(['a /namespaces get']);
  });
});

describe('bindings', () => {
  const accounts = ofKind(objects, 'ServiceAccount').map((sa) => `${sa.metadata.namespace}/${sa.metadata.name}`);
  const bindings = ofKind<{ roleRef: { name: string }; subjects: { name: string; namespace: string }[] }>(
    objects,
    'RoleBinding',
  );

  it.each([['openfaas-fn'], ['devenv-lifecycle']])(
    "in %s every function account exists and is bound to its Role in that Role's namespace",
    (namespace) => {
      for (const role of roles.filter(
        (r) => r.file === 'k8s/rbac/roles.yaml' && !r.metadata.name.startsWith('devenv-lifecycle-pod-watch'),
      )) {
        const fn = role.metadata.name.replace('devenv-lifecycle-', '');
        const binding = bindings.find(
          (b) =>
            b.file !== CE_RBAC &&
            b.metadata.namespace === role.metadata.namespace &&
            b.roleRef.name === role.metadata.name &&
            b.subjects[0]!.namespace === namespace,
        );
        expect(binding?.subjects, `${fn} in ${namespace}`).toEqual([
          { kind: 'ServiceAccount', name: `devenv-lifecycle-${fn}`, namespace },
        ]);
        expect(accounts).toContain(`${namespace}/devenv-lifecycle-${fn}`);
      }
    },
  );

  it('pod-watch as a stack.yml function may get, list and watch pods, as its own Deployment may', () => {
    const rulesOf = (name: string) => roles.find((r) => r.metadata.name === name)!.rules;
    expect(rulesOf('devenv-lifecycle-pod-watch-function')).toEqual(rulesOf('devenv-lifecycle-pod-watch'));
    const binding = bindings.find(
      (b) => b.file !== CE_RBAC && b.roleRef.name === 'devenv-lifecycle-pod-watch-function',
    );
    expect(binding?.subjects).toEqual([
      { kind: 'ServiceAccount', name: 'devenv-lifecycle-pod-watch', namespace: 'openfaas-fn' },
    ]);
    expect(accounts).toContain('openfaas-fn/devenv-lifecycle-pod-watch');
  });

  it('binds nothing to a Role that does not exist, and never grants wildcards', () => {
    for (const binding of bindings)
      expect(
        roles.some(
          (r) => r.metadata.name === binding.roleRef.name && r.metadata.namespace === binding.metadata.namespace,
        ),
        binding.metadata.name,
      ).toBe(true);
    for (const rule of roles.flatMap((r) => r.rules))
      expect([...rule.verbs, ...rule.resources, ...rule.apiGroups]).not.toContain('*');
  });
});

/*
 * Which identity each function really runs as on each platform, derived from stack.yml, the Helm
 * values and the manifests (not from the Roles' names), and whether that identity may make every
 * call the function makes. faas-netes CE ignores com.openfaas.serviceaccount: every function is
 * <functionNamespace>:default. OpenFaaS Pro honours the annotation. Knative runs each Service as
 * its serviceAccountName.
 */
describe('each platform: the identity a function runs as may make every call it makes', () => {
  const stack = parse(readFileSync('stack.yml', 'utf8')) as {
    functions: Record<string, { annotations?: Record<string, string> }>;
  };
  const values = parse(readFileSync('k8s/openfaas/openfaas-values.yaml', 'utf8')) as { functionNamespace?: string };
  const functionNamespace = values.functionNamespace ?? 'openfaas-fn';
  const services = ofKind<{ spec: { template: { spec: { serviceAccountName?: string } } } }>(objects, 'Service').filter(
    (s) => s.apiVersion === 'serving.knative.dev/v1',
  );
  const rbacFiles = { ce: [CE_RBAC], pro: ['k8s/openfaas/rbac.yaml'], knative: ['k8s/knative/rbac.yaml'] };
  type Platform = keyof typeof rbacFiles;

  function identity(platform: Platform, fn: string): string {
    if (platform === 'ce') return `${functionNamespace}/default`;
    if (platform === 'pro')
      return `${functionNamespace}/${stack.functions[fn]?.annotations?.['com.openfaas.serviceaccount'] ?? 'default'}`;
    const service = services.find((s) => s.metadata.name === fn);
    expect(service, `Knative Service ${fn}`).toBeDefined();
    return `${service!.metadata.namespace}/${service!.spec.template.spec.serviceAccountName ?? 'default'}`;
  }

  /** Everything the Roles bound to `who` in this platform's manifests grant, as `namespace group/resource verb`. */
  function allowed(platform: Platform, who: string): Set<string> {
    const bindings = ofKind<{
      roleRef: { kind: string; name: string };
      subjects: { kind: string; name: string; namespace: string }[];
    }>(objects, 'RoleBinding').filter(
      (b) =>
        rbacFiles[platform].includes(b.file) &&
        b.subjects.some((s) => s.kind === 'ServiceAccount' && `${s.namespace}/${s.name}` === who),
    );
    return new Set(
      bindings.flatMap((b) => {
        const role = roles.find(
          (r) =>
            r.kind === 'Role' && r.metadata.name === b.roleRef.name && r.metadata.namespace === b.metadata.namespace,
        );
        return (role?.rules ?? []).flatMap((rule) =>
          rule.apiGroups.flatMap((group) =>
            rule.resources.flatMap((resource) =>
              rule.verbs.map((verb) => `${b.metadata.namespace} ${group}/${resource} ${verb}`),
            ),
          ),
        );
      }),
    );
  }

  const cases = (['ce', 'pro', 'knative'] as Platform[]).flatMap((platform) =>
    ['warn', 'expire', 'cleanup-pod', 'snapshot-sync', 'oom-scan', 'ending-watchdog'].map(
      (fn) => [platform, fn] as const,
    ),
  );

  it.each(cases)('%s: %s may make every call it makes', (platform, fn) => {
    const grants = allowed(platform, identity(platform, fn));
    const denied = [...(observed.get(fn) ?? [])].filter((call) => !grants.has(call));
    expect(denied, `${fn} runs as ${identity(platform, fn)}`).toEqual([]);
  });

  it.each(cases.filter(([platform]) => platform !== 'ce'))(
    '%s: %s gets nothing beyond its own calls (least privilege)',
    (platform, fn) => {
      expect([...allowed(platform, identity(platform, fn))].sort()).toEqual([...(observed.get(fn) ?? [])].sort());
    },
  );

  it('on CE every function shares one identity, so it holds the union of all their calls (the documented wider grant)', () => {
    const union = new Set([...observed.values()].flatMap((calls) => [...calls]));
    const ce = allowed('ce', identity('ce', 'warn'));
    expect([...union].filter((call) => !ce.has(call))).toEqual([]);
    expect(readFileSync(CE_RBAC, 'utf8')).toMatch(/wider grant/);
  });

  it('on CE, without the CE bindings, the default account may do nothing (the 403s the per-function accounts caused)', () => {
    const withoutCe = new Set(
      ofKind<{ subjects: { name: string; namespace: string }[] }>(objects, 'RoleBinding').filter(
        (b) => b.file !== CE_RBAC && b.subjects.some((s) => s.name === 'default' && s.namespace === functionNamespace),
      ),
    );
    expect(withoutCe.size).toBe(0);
  });
});

/*
 * The bundles as the node22 image runs them: `npm run build`'s output, each loaded at start-up by
 * a separate process through the port of the template's index.js (RAW_BODY=true, as stack.yml
 * sets), against a real database and the simulated cluster and AWS. Every trigger the platforms
 * send must reach the right function and leave its run in the database.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../local/free-port.js';
import { FUNCTION_NAMES } from '../../shared/runtime/invocation.js';
import type { FunctionName } from '../../shared/runtime/invocation.js';
import { startSim } from '../../sim/server.js';
import type { Sim } from '../../sim/server.js';
import { simProductEnv } from '../../sim/product-env.js';
import { loadRequestFixtures } from '../fixtures/requests/index.js';
import { useTestDatabase } from '../support/database.js';
import { insertReservation } from '../support/fixtures.js';
import { buildBundles, firstAnswer, hostBundle, startFilesOnly } from './hosted-bundles.js';
import type { BuiltBundles, HostedFunction } from './hosted-bundles.js';

const db = useTestDatabase();
let sim: Sim;
let built: BuiltBundles;
const hosted = new Map<FunctionName, HostedFunction>();

function functionEnv(): Record<string, string> {
  return {
    DATABASE_URL: db.url,
    ...simProductEnv(sim),
    EVENT_DELIVERY: 'none',
    LOG_LEVEL: 'error',
    SECRETS_DIR: '/nonexistent',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    AVAILABILITY_UPDATER_FUNCTION_NAME: 'gpu-dev-availability-updater',
  };
}

beforeAll(async () => {
  sim = await startSim();
  built = await buildBundles(FUNCTION_NAMES);
  await Promise.all(
    built.bundles.map(async (bundle) => {
      const fn = bundle.name as FunctionName;
      const started = performance.now();
      hosted.set(fn, hostBundle(built.host, bundle, await freePort(), functionEnv()));
      await firstAnswer(hosted.get(fn)!, started, 30_000);
    }),
  );
}, 90_000);

afterAll(async () => {
  await Promise.all([...hosted.values()].map((h) => h.stop()));
  await sim?.close();
  await built?.remove();
});

async function post(fn: FunctionName, headers: Record<string, string>, body = '') {
  const res = await fetch(`${hosted.get(fn)!.url}/`, { method: 'POST', headers, body });
  const text = await res.text();
  return {
    status: res.status,
    type: res.headers.get('content-type') ?? '',
    text,
    json: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>,
  };
}

const runsOf = async (fn: string, callId: string) =>
  (
    await db.pool.query<{ trigger: string; outcome: string; dry_run: boolean; event_type: string | null }>(
      'select trigger, outcome, dry_run, event_type from function_runs where function = $1 and call_id = $2',
      [fn, callId],
    )
  ).rows;

describe('npm run build', () => {
  it('writes one handler.js per function, its chunks beside it, and the package.json the template installs and tests', () => {
    expect(built.bundles.map((b) => b.name).sort()).toEqual([...FUNCTION_NAMES].sort());
    for (const bundle of built.bundles) {
      const pkg = JSON.parse(readFileSync(join(dirname(bundle.file), 'package.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      expect(pkg).toMatchObject({ main: 'handler.js', scripts: { test: 'exit 0' } });
      expect(pkg.dependencies).toBeUndefined(); // everything is in the bundle
      expect(pkg.type).toBeUndefined(); // CommonJS, as the template's require() expects
      // The template copies the handler folder whole: every chunk must be inside it.
      for (const file of bundle.files) {
        expect(file.startsWith(dirname(bundle.file)), file).toBe(true);
        expect(readFileSync(file, 'utf8')).not.toMatch(
          /require\("(pg|@kubernetes\/client-node|@aws-sdk\/[a-z-]+|zod|pino)"\)/,
        );
      }
    }
  });

  it("bundles the punycode package for client-node's fetch instead of requiring Node's deprecated module (DEP0040 on node 22)", () => {
    for (const bundle of built.bundles) {
      expect(
        bundle.inputs.some((input) => input.startsWith('node_modules/punycode/')),
        bundle.name,
      ).toBe(true);
      for (const file of bundle.files)
        expect(readFileSync(file, 'utf8'), file).not.toMatch(/require\("(node:)?punycode"\)/);
    }
  });
});

// The esbuild metafile says which sources end up in the files a bundle reads before its first answer.
describe('what a bundle parses at start-up', () => {
  // Read on the first request that needs them: the run path and the clients, never a health check.
  const lazy = {
    'the AWS SDK': /^node_modules\/@aws-sdk\//,
    '@kubernetes/client-node': /^node_modules\/@kubernetes\/client-node\//,
    pg: /^node_modules\/pg(-pool|-protocol)?\//,
    cloudevents: /^node_modules\/cloudevents\//,
    "the function's own code": /^functions\//,
    'the request path (classify, the run kernel, the dead-letter sink)':
      /^shared\/runtime\/(classify|endpoint|openfaas|run|run-scope|define-function|execute|dead-letter-sink)\.ts$/,
  };
  // Never in a bundle: prom-client's Pushgateway and exemplars, pino's worker-thread transports.
  const absent =
    /^node_modules\/(@opentelemetry\/api|thread-stream|tdigest)\/|^node_modules\/prom-client\/lib\/(pushgateway|summary|cluster)\.js$/;
  // zod parts nothing calls stay as stubs (build/bundle.ts, zodUnusedParts).
  const stubbed = /^node_modules\/zod\/v4\/(core\/compile|classic\/from-json-schema|core\/json-schema-generator)\.js$/;
  // About 243 KiB in every bundle when this was written (0.6 MiB before the request path was split off).
  const START_BYTES_LIMIT = 280 * 1024;

  it.each(Object.entries(lazy))(
    'leaves out %s, which is in a chunk read on the first request that needs it',
    (_part, path) => {
      for (const bundle of built.bundles) {
        expect(
          bundle.inputs.some((input) => path.test(input)),
          bundle.name,
        ).toBe(true);
        expect(
          bundle.startInputs.filter((input) => path.test(input)),
          bundle.name,
        ).toEqual([]);
        expect(bundle.startFiles.length, bundle.name).toBeLessThan(bundle.files.length);
      }
    },
  );

  it('reads at most 280 KiB at start-up, without the parts of libraries nothing here runs', () => {
    for (const bundle of built.bundles) {
      expect(bundle.startBytes, bundle.name).toBeLessThanOrEqual(START_BYTES_LIMIT);
      expect(
        bundle.inputs.filter((input) => absent.test(input)),
        bundle.name,
      ).toEqual([]);
      const stubs = Object.entries(bundle.startInputBytes).filter(([input]) => stubbed.test(input));
      expect(stubs.length, bundle.name).toBe(3);
      for (const [input, bytes] of stubs) expect(bytes, `${bundle.name}: ${input}`).toBeLessThan(1024);
    }
  });

  it('answers health checks and metrics with its start-up files alone, and a request it cannot load the function for with a 500 problem', async () => {
    // One at a time: every bundle of the file is already running beside these.
    for (const bundle of built.bundles) {
      const started = performance.now();
      const trimmed = hostBundle(
        built.host,
        await startFilesOnly(bundle, built.folder),
        await freePort(),
        functionEnv(),
      );
      try {
        await firstAnswer(trimmed, started, 60_000);
        expect(await (await fetch(`${trimmed.url}/healthz`)).json()).toEqual({ status: 'ok', function: bundle.name });
        expect(await (await fetch(`${trimmed.url}/metrics`)).text()).toContain('devenv_lifecycle_runs_total');
        const run = await fetch(`${trimmed.url}/`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"dryRun":true}',
        });
        expect(run.status, bundle.name).toBe(500);
        expect(run.headers.get('content-type')).toContain('application/problem+json');
        // Still serving: the chunk is tried again on the next request.
        expect((await fetch(`${trimmed.url}/healthz`)).status).toBe(200);
      } finally {
        await trimmed.stop();
      }
    }
  }, 300_000);
});

describe.each(FUNCTION_NAMES)('bundled %s in the template', (fn) => {
  it('is the right function, serving health and metrics', async () => {
    const health = await fetch(`${hosted.get(fn)!.url}/healthz`);
    expect(await health.json()).toEqual({ status: 'ok', function: fn });
    const metrics = await (await fetch(`${hosted.get(fn)!.url}/metrics`)).text();
    expect(metrics).toContain('devenv_lifecycle_runs_total');
  });

  it('runs a cron-connector tick and records it in the database', async () => {
    const callId = `cron-${fn}`;
    const answer = await post(fn, { 'x-connector': 'cron-connector', 'x-topic': 'cron-function', 'x-call-id': callId });
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ outcome: 'succeeded' });
    expect(await runsOf(fn, callId)).toEqual([
      { trigger: 'schedule', outcome: 'succeeded', dry_run: false, event_type: null },
    ]);
  });

  it('runs a manual JSON call as a dry run and refuses an unknown option with 400', async () => {
    const callId = `manual-${fn}`;
    const answer = await post(
      fn,
      { 'content-type': 'application/json', 'x-call-id': callId },
      '{"dryRun":true,"maxItems":5}',
    );
    expect(answer.status).toBe(200);
    expect(await runsOf(fn, callId)).toEqual([expect.objectContaining({ trigger: 'manual', dry_run: true })]);
    const refused = await post(fn, { 'content-type': 'application/json' }, '{"dryRn":true}');
    expect(refused.status).toBe(400);
    expect(refused.type).toContain('application/problem+json');
  });
});

describe('recorded platform requests against the bundles', () => {
  const fixtures = loadRequestFixtures();

  it.each(fixtures.map((f) => [f.name, f] as const))('%s', async (_name, fixture) => {
    const headers = Object.fromEntries(
      Object.entries(fixture.headers).filter(([name]) => name !== 'content-length' && name !== 'host'),
    );
    const answer = await post(fixture.function, headers, fixture.body);
    if (fixture.expect.status >= 400) {
      expect(answer.status).toBe(fixture.expect.status);
      return;
    }
    expect([200, 202]).toContain(answer.status);
    // Through a Knative Broker (Prefer: reply) a body would be taken for a reply event.
    if (fixture.headers.prefer === 'reply') expect(answer.text).toBe('');
    const runs = await runsOf(fixture.function, fixture.expect.callId ?? '');
    if (fixture.expect.callId) expect(runs).toEqual([expect.objectContaining({ trigger: fixture.expect.kind })]);
    if (fixture.expect.kind === 'event') expect(runs[0]?.event_type).toBe(fixture.expect.type);
  });

  it('includes binary and structured CloudEvents, PingSource ticks and cron-connector ticks', () => {
    const shapes = fixtures.map(
      (f) =>
        `${f.expect.kind}:${f.headers['content-type']?.startsWith('application/cloudevents+json') ? 'structured' : f.headers['ce-id'] ? 'binary' : 'plain'}`,
    );
    expect(shapes).toEqual(
      expect.arrayContaining(['event:binary', 'event:structured', 'schedule:binary', 'schedule:plain', 'manual:plain']),
    );
  });
});

describe('a bundle without its settings', () => {
  it('stops at start-up naming the missing variable, before answering anything', async () => {
    const bundle = built.bundles.find((b) => b.name === 'expire')!;
    const { DATABASE_URL: _omitted, ...withoutDatabase } = functionEnv();
    const broken = hostBundle(built.host, bundle, await freePort(), withoutDatabase);
    await new Promise((resolve) => broken.process.once('exit', resolve));
    expect(broken.process.exitCode).not.toBe(0);
    expect(broken.stderr()).toContain('POSTGRES_PASSWORD');
  });
});

describe('bundles that call AWS', () => {
  it('load the AWS SDK on their first call: cleanup-pod checks the volume in EC2 and invokes the updater Lambda', async () => {
    const updater = 'gpu-dev-availability-updater';
    sim.aws.addFunction(updater);
    const volumeId = 'vol-0b0d1e0000000001';
    sim.aws.addVolume({ volumeId, sizeGiB: 10 });
    // The pod's 404 proves it gone only in a namespace that exists.
    sim.kube.addNamespace('gpu-dev');
    await insertReservation(db.pool, {
      reservation_id: 'b0d1e000-0000-4000-8000-000000000001',
      status: 'expired',
      status_changed_at: new Date(),
      ebs_volume_id: volumeId,
    });
    const answer = await post('cleanup-pod', { 'content-type': 'application/json', 'x-call-id': 'aws-cleanup' }, '{}');
    expect(answer.json).toMatchObject({ outcome: 'succeeded', summary: { cleaned: 1, availability_updates: 1 } });
    expect(sim.aws.calls().some((call) => call.action === 'DescribeVolumes')).toBe(true);
    expect(sim.aws.invocations(updater)).toHaveLength(1);
  });
});

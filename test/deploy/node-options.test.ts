/*
 * The node flags a function is deployed with (NODE_OPTIONS in stack.yml, rendered into its Knative
 * Service): node accepts them from the environment (it refuses to start on a flag NODE_OPTIONS does
 * not allow), they bound V8's heap as the README's memory section says, and both platforms give
 * the function the same ones. The benchmark starts its function process with them
 * (bench/workers.ts deployedNodeOptions), so its memory figures are the deployed function's.
 */
import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { readStack } from '../../build/stack.js';
import { FUNCTION_NAMES } from '../../shared/runtime/invocation.js';
import { deployedNodeOptions } from '../../bench/workers.js';
import { runTracked } from '../support/processes.js';
import { ofKind, readObjects } from './manifests.js';

const root = process.cwd();
const functions = readStack(root).functions.filter((fn) => (FUNCTION_NAMES as readonly string[]).includes(fn.name));
const services = ofKind<{
  spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } };
}>(readObjects(root), 'Service').filter((o) => o.apiVersion === 'serving.knative.dev/v1');
const MiB = 2 ** 20;

/** The heap limit node reports when started with `nodeOptions` in its environment. */
async function heapUnder(nodeOptions: string): Promise<{ limitMiB: number }> {
  const script = "process.stdout.write(String(require('node:v8').getHeapStatistics().heap_size_limit))";
  const { code, stdout, stderr } = await runTracked(process.execPath, ['-e', script], {
    env: { PATH: process.env.PATH, NODE_OPTIONS: nodeOptions },
    timeoutMs: 20_000,
  });
  expect(code, stderr).toBe(0);
  return { limitMiB: Number(stdout) / MiB };
}

it.each(['oom-scan', 'snapshot-sync', 'warn', 'expire'])('%s is deployed with a bounded heap', (name) => {
  expect(functions.find((fn) => fn.name === name)?.ownEnvironment.NODE_OPTIONS).toMatch(/--max-old-space-size=\d+/);
});

// A sweep's live heap (40-85 MiB measured) is too near a 64 MiB old space: only the young generation is bounded.
it('cleanup-pod is deployed with a bounded young generation and an unbounded old space', () => {
  const options = functions.find((fn) => fn.name === 'cleanup-pod')?.ownEnvironment.NODE_OPTIONS;
  expect(options).toMatch(/--max-semi-space-size=\d+/);
  expect(options).not.toMatch(/--max-old-space-size/);
});

describe.each(functions.filter((fn) => fn.ownEnvironment.NODE_OPTIONS !== undefined).map((fn) => [fn.name, fn]))(
  '%s NODE_OPTIONS',
  (name, fn) => {
    const options = fn.ownEnvironment.NODE_OPTIONS!;

    it('is the same in its Knative Service, and is what the benchmark starts the function with', () => {
      const env = services.find((s) => s.metadata.name === name)!.spec.template.spec.containers[0]!.env ?? [];
      expect(env.find((e) => e.name === 'NODE_OPTIONS')?.value).toBe(options);
      expect(deployedNodeOptions(name)).toEqual(options.split(' '));
    });

    it('is accepted by node from the environment', async () => {
      await heapUnder(options);
    });
  },
);

describe.each(
  functions
    .filter((fn) => fn.ownEnvironment.NODE_OPTIONS?.includes('--max-old-space-size') === true)
    .map((fn) => [fn.name, fn.ownEnvironment.NODE_OPTIONS!]),
)('%s heap limit', (_name, options) => {
  it('bounds the heap under 128 MiB', async () => {
    const { limitMiB } = await heapUnder(options);
    expect(limitMiB).toBeLessThan(128);
    // Without the flags V8 sizes the heap from the machine's memory: far above what we allow.
    expect(v8.getHeapStatistics().heap_size_limit / MiB).toBeGreaterThan(limitMiB);
  });
});

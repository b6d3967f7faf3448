import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { readStack } from '../../build/stack.js';
import { allFunctions } from '../../functions/index.js';
import { schedulesFromStack } from '../../local/schedules.js';

describe('stack.yml', () => {
  const text = readFileSync('stack.yml', 'utf8');
  const schedules = schedulesFromStack(text);
  const stack = readStack(process.cwd());

  it('schedules every function with its default from the specification', () => {
    expect(Object.fromEntries(schedules.map((s) => [s.fn, s.cron]))).toEqual({
      warn: '* * * * *',
      expire: '* * * * *',
      'cleanup-pod': '*/5 * * * *',
      'snapshot-sync': '*/5 * * * *',
      'oom-scan': '*/5 * * * *',
      'ending-watchdog': '*/10 * * * *',
      extend: '*/30 * * * *',
    });
  });

  it('lists exactly the functions the product has, and the pod-watch source', () => {
    expect(schedules.map((s) => s.fn).sort()).toEqual(allFunctions.map((fn) => fn.name).sort());
    expect(stack.functions.map((fn) => fn.name).sort()).toEqual(
      [...allFunctions.map((fn) => fn.name), 'pod-watch'].sort(),
    );
  });

  it('builds every entry from its bundle with the node22 template pinned by commit', () => {
    const raw = parse(text) as {
      version: string;
      provider: { name: string };
      configuration: { templates: { name: string; source: string }[] };
    };
    expect(raw.version).toBe(1.0);
    expect(raw.provider.name).toBe('openfaas');
    expect(raw.configuration.templates).toEqual([
      {
        name: 'node22',
        source: expect.stringMatching(/^https:\/\/github\.com\/openfaas\/templates#sha-[0-9a-f]{7,40}$/),
      },
    ]);
    for (const fn of stack.functions) {
      expect(fn.lang, fn.name).toBe('node22');
      expect(fn.handler).toBe(`./dist/openfaas/${fn.name}`);
      expect(text).toContain(`image: \${REGISTRY:-ghcr.io/devenv-lifecycle}/${fn.name}:\${TAG:-dev}`);
      expect(fn.labels).toMatchObject({
        'app.kubernetes.io/name': fn.name,
        'app.kubernetes.io/part-of': 'devenv-lifecycle',
      });
      expect(fn.annotations['com.openfaas.serviceaccount']).toBe(`devenv-lifecycle-${fn.name}`);
      expect(Object.keys(fn.requests).sort()).toEqual(['cpu', 'memory']);
      expect(Object.keys(fn.limits).sort()).toEqual(['cpu', 'memory']);
    }
  });

  it('takes raw bodies (structured CloudEvents survive) up to the event body limit', () => {
    for (const fn of stack.functions.filter((f) => f.name !== 'pod-watch')) {
      expect(fn.environment, fn.name).toMatchObject({ RAW_BODY: 'true', MAX_RAW_SIZE: '256kb' });
    }
  });

  it('keeps pod-watch at exactly one replica', () => {
    const podWatch = stack.functions.find((fn) => fn.name === 'pod-watch')!;
    expect(podWatch.labels).toMatchObject({ 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '1' });
    expect(podWatch.annotations.topic).toBeUndefined();
  });
});

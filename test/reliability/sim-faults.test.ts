/* The simulator's fault additions the reliability suite relies on: per-rule chances, counts by kind, cut watches. */
import { describe, expect, it } from 'vitest';
import { Faults, seededRandom } from '../../sim/faults.js';
import { startSim } from '../../sim/server.js';

const url = new URL('http://sim/api/v1/pods');

describe('fault rules', () => {
  it('give every matching rule its own chance, in order, and count what fired by kind', () => {
    const faults = new Faults(seededRandom(3));
    faults.add({ path: /^\/api\//, status: 503, probability: 0.3 });
    faults.add({ path: /^\/api\//, reset: true, probability: 0.3 });
    faults.add({ path: /^\/api\//, delayMs: 5, label: 'timeout', count: 2 });
    const kinds = Array.from({ length: 200 }, () => faults.take('GET', url, false)?.effect.kind ?? 'none');
    expect(new Set(kinds)).toEqual(new Set(['answer', 'reset', 'none']));
    const fired = faults.fired();
    expect(fired['http-503']).toBe(kinds.filter((k) => k === 'answer').length);
    expect(fired.reset).toBe(kinds.filter((k) => k === 'reset').length);
    expect(fired.timeout).toBe(2); // the third rule fired only when neither before it did, and then was spent
  });

  it('keep their counts when the rules are cleared', () => {
    const faults = new Faults(seededRandom(1));
    faults.add({ path: '/api/v1/pods', status: 429 });
    faults.take('GET', url, false);
    faults.clear();
    expect(faults.take('GET', url, false)).toBeUndefined();
    expect(faults.fired()).toEqual({ 'http-429': 1 });
  });
});

describe('dropWatches', () => {
  it('cuts every open watch stream and reports how many', async () => {
    const sim = await startSim();
    try {
      const watch = await fetch(`${sim.url}/api/v1/namespaces/default/pods?watch=true`, {
        headers: { authorization: `Bearer ${sim.token}` },
      });
      const reader = watch.body!.getReader();
      expect(sim.kube.dropWatches()).toBe(1);
      await expect(
        (async () => {
          for (;;) if ((await reader.read()).done) return 'ended';
        })(),
      ).rejects.toThrow();
      expect(sim.kube.dropWatches()).toBe(0);
    } finally {
      await sim.close();
    }
  });
});

import { describe, expect, it } from 'vitest';
import type { Kube } from '../../shared/kube/index.js';
import { createClusterResources } from '../../shared/kube/ports.js';

// Destructive listings go through the ownership rule: a selector is sent only for an id that is a
// label value, and always as one key=value. A client that records every call proves it.
function recordingKube(calls: Array<{ name: string; args: unknown }>): Kube {
  const record = (name: string) => async (args: unknown) => {
    calls.push({ name, args });
    return name === 'listPods' ? { items: [] } : [];
  };
  return new Proxy({}, { get: (_target, name) => record(String(name)) }) as unknown as Kube;
}

describe('deleteOwned selector guard', () => {
  it.each(['', ' ', 'r1,other', 'a b', '"r1"', '$(id)', 'line\nbreak', 'x'.repeat(64), 'app in (x)', '-r1'])(
    'sends no selector and deletes nothing for the id %j',
    async (id) => {
      const calls: Array<{ name: string; args: unknown }> = [];
      const result = await createClusterResources(recordingKube(calls)).deleteOwned('ns', { key: 'lab-id', id }, {}, 0);
      expect(calls).toEqual([]);
      expect(result).toEqual({ errors: [], leftAlone: [] });
    },
  );

  it('lists by exactly one key=value for an id that is a label value', async () => {
    const calls: Array<{ name: string; args: unknown }> = [];
    await createClusterResources(recordingKube(calls)).deleteOwned('ns', { key: 'lab-id', id: 'lab-1' }, {}, 0);
    expect(calls.map((call) => call.name)).toEqual(['listPods', 'listServices', 'listIngresses']);
    for (const call of calls) expect(call.args).toMatchObject({ namespace: 'ns', labelSelector: 'lab-id=lab-1' });
  });
});

/*
 * The simulator's sorted key and label index against a plain model (a filter and a sort of every
 * object): after any mix of creates, deletes and label changes, reading on from any key gives the
 * same objects in the same order, counts agree, and a label value finds exactly its objects.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { ObjectStore } from '../../sim/kube/store.js';
import type { KubeObject } from '../../sim/kube/store.js';

const namespaces = ['a', 'a-b', 'b', 'a.c'];
const keyOf = (object: KubeObject) => `${object.metadata.namespace}/${object.metadata.name}`;

function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

/** Every object the model holds, in key order, as a filter and sort would find them. */
function modelList(model: Map<string, KubeObject>, namespace?: string): string[] {
  return [...model.values()]
    .filter((o) => namespace === undefined || o.metadata.namespace === namespace)
    .map(keyOf)
    .sort();
}

function churn(store: ObjectStore, model: Map<string, KubeObject>, random: () => number, steps: number): void {
  for (let step = 0; step < steps; step++) {
    const namespace = namespaces[Math.floor(random() * namespaces.length)]!;
    const name = `pod-${Math.floor(random() * 60)}`;
    const key = `${namespace}/${name}`;
    const labels = { owner: `r${Math.floor(random() * 5)}` };
    const existing = model.get(key);
    const roll = random();
    if (!existing) {
      model.set(key, store.create('pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, labels } }));
    } else if (roll < 0.4) {
      store.remove('pods', namespace, name);
      model.delete(key);
    } else {
      model.set(key, store.update('pods', { ...existing, metadata: { ...existing.metadata, labels } }));
    }
  }
}

describe('the simulator keeps its objects indexed', () => {
  it('lists in key order from any key after creates, deletes and relabels, as a full sort would', () => {
    const store = new ObjectStore(new ManualClock(), 100);
    const model = new Map<string, KubeObject>();
    const random = seeded(7);
    for (let round = 0; round < 20; round++) {
      churn(store, model, random, 50);
      const all = modelList(model);
      expect(store.listShared('pods').map(keyOf)).toEqual(all);
      for (const namespace of [undefined, ...namespaces]) {
        const expected = modelList(model, namespace);
        const from = all[Math.floor(random() * all.length)];
        const after = expected.filter((key) => from === undefined || key > from);
        expect([...store.objectsAfter('pods', namespace, from)].map(keyOf)).toEqual(after);
        expect(store.countAfter('pods', namespace, from)).toBe(after.length);
      }
    }
  });

  it('finds exactly the objects carrying a label value, after their labels change and they are deleted', () => {
    const store = new ObjectStore(new ManualClock(), 100);
    const model = new Map<string, KubeObject>();
    churn(store, model, seeded(11), 400);
    for (const owner of ['r0', 'r3', 'absent']) {
      for (const namespace of [undefined, 'a-b']) {
        const expected = [...model.values()]
          .filter(
            (o) =>
              o.metadata.labels?.owner === owner && (namespace === undefined || o.metadata.namespace === namespace),
          )
          .map(keyOf)
          .sort();
        expect(store.withLabel('pods', namespace, 'owner', [owner]).map(keyOf)).toEqual(expected);
      }
    }
  });
});

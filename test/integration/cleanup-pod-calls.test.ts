/*
 * cleanup-pod's Kubernetes calls for one ordinary teardown. Ownership checks read each object once
 * and reuse the evidence (the labelled listing proves the pod; the uid read is the one deleted), so
 * a teardown costs the 13 calls it did before them, not more.
 */
import { describe, expect, it } from 'vitest';
import { cleanupPod } from '../../functions/cleanup-pod/handler.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { seedEndedReservation, teardownOf } from './cleanup-pod-seed.js';

const h = useFunctionHarness();

describe('cleanup-pod call budget', () => {
  it('tears down a labelled pod, its origin-style ssh service and a labelled service in 13 Kubernetes calls', async () => {
    const r = await seedEndedReservation(h, { volume: false });
    const before = h.sim.requests.all().length;
    await h.schedule(cleanupPod);
    h.clock.advanceSeconds(31);
    h.sim.kube.tick();
    await h.schedule(cleanupPod);
    expect(await teardownOf(h, r.id)).toMatchObject({ step: 'done' });
    const calls = h.sim.requests.all().slice(before).filter((q) => q.path.startsWith('/api/') || q.path.startsWith('/apis/'));
    const named = (q: { method: string; path: string }) => `${q.method} ${q.path.replace(/^.*\/namespaces\/gpu-dev\/?/, '') || 'namespace'}`;
    expect(calls.map(named).sort()).toEqual([
      // delete_resources: list by label, delete the proven pod; list services, read the unlabelled -ssh, delete both; ingresses
      'GET pods', `DELETE pods/${r.podName}`, 'GET services', `GET services/${r.podName}-ssh`, `DELETE services/${r.podName}-web`, `DELETE services/${r.podName}-ssh`, 'GET ingresses',
      // await_gone: terminating in the first run; a 404 in the second, believed once the namespace is seen to exist
      `GET pods/${r.podName}`, `GET pods/${r.podName}`, 'GET namespace',
      // verify: the three labelled listings
      'GET pods', 'GET services', 'GET ingresses',
    ].sort());
  });
});

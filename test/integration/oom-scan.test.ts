/* oom-scan end to end against the simulated cluster, with a real database. */
import { describe, expect, it } from 'vitest';
import { oomScan } from '../../functions/oom-scan/handler.js';
import { EventTypes } from '../../shared/events/types.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertReservation } from '../support/fixtures.js';

const h = useFunctionHarness();
const pod = { namespace: 'gpu-dev', name: 'gpu-dev-oooo0001' };

async function oomState(id: string) {
  const { rows } = await h.deps.pool.query('select oom_count, last_oom_at, oom_container from reservations where reservation_id = $1', [id]);
  return rows[0];
}

describe('oom-scan', () => {
  it('records each kill once, across scans and events, and writes the notice in the pod', async () => {
    await insertReservation(h.deps.pool, { reservation_id: 'oooo0001-res', pod_name: pod.name, namespace: 'gpu-dev' });
    h.sim.kube.addPod({ ...pod, labels: { 'reservation-id': 'oooo0001-res' }, containers: ['gpu-dev', 'sidecar'] });
    h.sim.kube.oomKill(pod, 'gpu-dev');
    const killedAt = h.clock.now();
    expect((await h.schedule(oomScan)).summary).toMatchObject({ oom_detected: 1, notices_sent: 1 });
    expect(await oomState('oooo0001-res')).toEqual({ oom_count: 1, last_oom_at: killedAt, oom_container: 'gpu-dev' });
    expect(h.sim.kube.readFile(pod, '/home/dev/OOM_DETECTED.txt')).toContain('OOM kills so far: 1');

    expect((await h.schedule(oomScan)).summary.oom_detected).toBe(0);
    const event = { type: EventTypes.podUpdated, source: '/apis/v1/namespaces/gpu-dev/pods', data: h.sim.kube.pod(pod)! };
    expect((await h.event(oomScan, event as never)).summary.oom_detected).toBe(0);

    h.clock.advanceMinutes(3);
    h.sim.kube.oomKill(pod, 'gpu-dev');
    h.sim.kube.oomKill(pod, 'sidecar');
    expect((await h.event(oomScan, { ...event, data: h.sim.kube.pod(pod)! } as never)).summary.oom_detected).toBe(2);
    expect((await oomState('oooo0001-res')).oom_count).toBe(3);
  });
});

/*
 * The testkit's world: its builders put rows in this file's database and pods in the simulator
 * where the configuration looks for them, the product environment it parsed points the real
 * clients at the simulator, and invoking a function runs it through its handler on that world.
 */
import { describe, expect, it } from 'vitest';
import { expire } from '../../functions/expire/handler.js';
import { createKube } from '../../shared/kube/index.js';
import { simProductEnv } from '../../sim/product-env.js';
import { FIXTURE_NOW } from '../support/fixtures.js';
import { useWorld } from '../support/use-world.js';

const w = useWorld({ env: { RESERVATION_NAMESPACE: 'dev-envs', RESERVATION_LABEL: 'example.com/reservation' } });
const minutesFromNow = (minutes: number) => new Date(w.clock.now().getTime() + minutes * 60_000);

describe('the world', () => {
  it("starts its clock at the fixtures' now and parses the environment that points at its simulator", () => {
    expect(w.clock.now()).toEqual(FIXTURE_NOW);
    expect(w.env).toMatchObject(simProductEnv(w.sim));
    expect(w.config.policy.reservationNamespace).toBe('dev-envs');
  });

  it("builds a reservation with its pod, labelled as configured, which the product's own client finds", async () => {
    const row = await w.reservationWithPod({ reservation_id: 'w1-world' });
    expect(row.namespace).toBe('dev-envs');
    const kube = createKube(w.config.kube);
    const pods = await kube.listPods({ namespace: 'dev-envs', labelSelector: 'example.com/reservation=w1-world' });
    expect(pods.items.map((pod) => pod.metadata?.name)).toEqual([row.pod_name]);
    const { rows } = await w.deps.pool.query('select status from reservations where reservation_id = $1', ['w1-world']);
    expect(rows).toEqual([{ status: 'active' }]);
  });

  it('invokes a function on a schedule tick against the world', async () => {
    await w.reservationWithPod({ reservation_id: 'w2-world', expires_at: minutesFromNow(-30) });
    await w.lab();
    await w.disk({ reservation_id: 'w2-world', in_use: true });
    expect(await w.schedule(expire)).toMatchObject({ outcome: 'succeeded', summary: { expired: 1 } });
    const { rows } = await w.deps.pool.query('select status from reservations where reservation_id = $1', ['w2-world']);
    expect(rows).toEqual([{ status: 'expired' }]);
  });
});

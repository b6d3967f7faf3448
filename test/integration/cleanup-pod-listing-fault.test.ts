/*
 * One failed listing blinds only its own kind: when the labelled pods listing fails, a teardown
 * still deletes the services and ingresses its labels prove are the reservation's, in the same run,
 * and leaves the pod (unknown) and the unlabelled `-ssh` service (it can only be judged by the pod
 * it serves) for the next run. Nothing is deleted on a guess: a foreign service survives both runs.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { cleanupPod } from '../../functions/cleanup-pod/handler.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { seedEndedReservation, teardownOf } from './cleanup-pod-seed.js';

const UPDATER = 'gpu-dev-availability-updater';
const h = useFunctionHarness({ AVAILABILITY_UPDATER_FUNCTION_NAME: UPDATER });

beforeEach(() => {
  h.sim.faults.clear();
  h.sim.aws.clearFaults();
  h.sim.aws.addFunction(UPDATER);
});

const names = (kind: 'pods' | 'services' | 'ingresses') =>
  h.sim.kube
    .list(kind, 'gpu-dev')
    .map((object) => object.metadata?.name)
    .sort();

describe('cleanup-pod when the pods listing fails', () => {
  it('deletes the labelled service and ingress in the same run, and the pod once the listing answers', async () => {
    const r = await seedEndedReservation(h, { volume: false });
    h.sim.kube.addIngress({
      name: `${r.podName}-web`,
      namespace: 'gpu-dev',
      labels: { 'reservation-id': r.id },
      host: 'dev.example.com',
    });
    const other = await seedEndedReservation(h, { volume: false, status: 'active' });
    h.sim.kube.addService({ name: 'shared-web', namespace: 'gpu-dev', labels: { 'reservation-id': other.id } });
    h.sim.faults.add({ method: 'GET', path: /\/namespaces\/gpu-dev\/pods\?/, status: 500 });

    await h.schedule(cleanupPod);

    expect(names('pods')).toContain(r.podName);
    expect(names('services')).toEqual(
      [`${other.podName}-ssh`, `${other.podName}-web`, `${r.podName}-ssh`, 'shared-web'].sort(),
    );
    expect(names('ingresses')).toEqual([]);
    expect(await teardownOf(h, r.id)).toMatchObject({ step: 'delete_resources' });
    expect((await teardownOf(h, r.id))?.last_error).toMatch(/pods/);

    h.sim.faults.clear();
    h.clock.advanceSeconds(31); // the retry delay of a failed step
    await h.schedule(cleanupPod);
    h.clock.advanceSeconds(31);
    h.sim.kube.tick();
    await h.schedule(cleanupPod);
    expect(names('pods')).toEqual([other.podName]);
    expect(names('services')).toEqual([`${other.podName}-ssh`, `${other.podName}-web`, 'shared-web'].sort());
  });
});

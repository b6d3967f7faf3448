/* The demo fleet's cluster side: pods (one OOM-killed), volumes attached to them, lab resources. */
import type { Sim } from '../sim/server.js';
import { DEMO_LAB_NAMESPACE, DEMO_NAMESPACE, demoLabs, demoReservations, podNameFor } from './demo-plan.js';

export function seedDemoCluster(sim: Sim): void {
  for (const reservation of demoReservations) {
    if (reservation.pod !== 'running' && reservation.pod !== 'oom-killed') continue;
    const name = podNameFor(reservation.id);
    const volumes = reservation.volumeId
      ? [{ name: 'home', awsElasticBlockStore: { volumeID: reservation.volumeId } }]
      : undefined;
    sim.kube.addPod({
      name,
      namespace: DEMO_NAMESPACE,
      labels: { 'reservation-id': reservation.id },
      ...(volumes && { volumes }),
    });
    sim.kube.addService({
      name: `${name}-ssh`,
      namespace: DEMO_NAMESPACE,
      labels: { 'reservation-id': reservation.id },
    });
    if (reservation.volumeId) {
      sim.aws.addVolume({
        volumeId: reservation.volumeId,
        sizeGiB: 100,
        tags: { disk_name: reservation.diskName ?? '' },
        attachedTo: name,
      });
    }
    if (reservation.pod === 'oom-killed') sim.kube.oomKill({ namespace: DEMO_NAMESPACE, name });
  }
  for (const lab of demoLabs) {
    for (let index = 0; index < lab.resources; index++) {
      const name = `lab-${lab.id.slice(-4)}-${index}`;
      sim.kube.addPod({ name, namespace: DEMO_LAB_NAMESPACE, labels: { 'lab-id': lab.id }, containers: ['desktop'] });
    }
    sim.kube.addService({
      name: `lab-${lab.id.slice(-4)}-novnc`,
      namespace: DEMO_LAB_NAMESPACE,
      labels: { 'lab-id': lab.id },
    });
  }
  sim.aws.addFunction('gpu-dev-availability-updater');
}

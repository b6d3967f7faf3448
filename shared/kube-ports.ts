/*
 * The functions' cluster ports (shared/pods.ts, shared/labelled-resources.ts) over the Kubernetes
 * operations in shared/kube. This is where the evidence rules meet the API: only NotFound is
 * absence; everything else propagates as the typed error it is.
 */
import { Invalid, NotFound, coerceError } from './errors.js';
import type { Kube } from './kube/index.js';
import type { LabelledResources, NamedResources } from './labelled-resources.js';
import type { PodReader } from './pods.js';
import { summarizePod } from './pod-summary.js';
import type { PodLike } from './pod-summary.js';

// Label selectors travel in the URL; 50 UUIDs keep a request well under common URL limits.
const IDS_PER_SELECTOR = 50;

export function createPodReader(kube: Kube, options: { reservationLabel: string }): PodReader {
  const label = options.reservationLabel;
  return {
    async podsForReservations(namespace, reservationIds) {
      const found = new Map<string, ReturnType<typeof summarizePod>>();
      for (let start = 0; start < reservationIds.length; start += IDS_PER_SELECTOR) {
        const chunk = reservationIds.slice(start, start + IDS_PER_SELECTOR);
        const list = await kube.listPods({ namespace, labelSelector: `${label} in (${chunk.join(',')})` });
        for (const pod of list.items) {
          const summary = summarizePod(pod as PodLike);
          const id = summary.labels?.[label];
          if (id) found.set(id, summary);
        }
      }
      return found;
    },
    async listReservationPods(namespace) {
      const list = await kube.listPods({ namespace, labelSelector: label });
      return list.items.map((pod) => summarizePod(pod as PodLike));
    },
    async readPod(namespace, name) {
      try {
        return summarizePod((await kube.getPod({ namespace, name })) as PodLike);
      } catch (err) {
        if (err instanceof NotFound) return 'absent';
        throw err;
      }
    },
  };
}

export function createClusterResources(kube: Kube): LabelledResources & NamedResources {
  return {
    async deleteLabelled(namespace, labelSelector, podGraceSeconds) {
      requireEquality(labelSelector);
      const errors: string[] = [];
      const note = (what: string) => (err: unknown) => void errors.push(`${what}: ${coerceError(err).message}`);
      const pods = await kube.listPods({ namespace, labelSelector }).catch((err: unknown) => (note('list pods')(err), { items: [] }));
      await Promise.all(pods.items.map((pod) => {
        const name = pod.metadata?.name ?? '';
        return kube.deletePod({ namespace, name, gracePeriodSeconds: podGraceSeconds }).catch(note(`pod ${name}`));
      }));
      await kube.deleteServices({ namespace, labelSelector }).catch(note('services'));
      await kube.deleteIngresses({ namespace, labelSelector }).catch(note('ingresses'));
      return { errors };
    },
    async listLabelled(namespace, labelSelector) {
      const [pods, services, ingresses] = await Promise.all([
        kube.listPods({ namespace, labelSelector }),
        kube.listServices({ namespace, labelSelector }),
        kube.listIngresses({ namespace, labelSelector }),
      ]);
      return [
        ...pods.items.map((pod) => `pod/${pod.metadata?.name ?? ''}`),
        ...services.map((service) => `service/${service.metadata?.name ?? ''}`),
        ...ingresses.map((ingress) => `ingress/${ingress.metadata?.name ?? ''}`),
      ];
    },
    deletePod: async (namespace, name, graceSeconds) =>
      ((await kube.deletePod({ namespace, name, gracePeriodSeconds: graceSeconds })) ? 'deleted' : 'absent'),
    deleteService: async (namespace, name) => ((await kube.deleteService({ namespace, name })) ? 'deleted' : 'absent'),
  };
}

/** A destructive listing must name one owner: `key=value`. An empty selector would match everything. */
function requireEquality(labelSelector: string): void {
  if (!/^[^=,!()\s]+=[^=,!()\s]+$/.test(labelSelector)) {
    throw new Invalid(`refusing to delete by label selector ${JSON.stringify(labelSelector)}: it must be one key=value`, [{ field: 'labelSelector', message: 'must be key=value' }]);
  }
}

/*
 * The functions' cluster ports (shared/kube/pods.ts, shared/kube/labelled-resources.ts) over the Kubernetes
 * operations in shared/kube. This is where the evidence rules meet the API: only NotFound is
 * absence; everything else propagates as the typed error it is.
 */
import type { Clock } from '../clock.js';
import { Fatal, NotFound, coerceError } from '../errors.js';
import type { Kube } from './index.js';
import { ListExpired } from './index.js';
import { createOwnedResources } from './owned-resources.js';
import type { NamedResources } from './labelled-resources.js';
import { isLabelValue } from './ownership.js';
import type { PodReader } from './pods.js';
import { summarizePod } from './pod-summary.js';
import type { PodLike } from './pod-summary.js';
import type { Metrics } from '../runtime/metrics.js';

// Label selectors travel in the URL; 50 UUIDs keep a request well under common URL limits.
const IDS_PER_SELECTOR = 50;
// "Once per run": runs are at least a minute apart, so a namespace's answer is kept for a minute.
const NAMESPACE_CHECK_MS = 60_000;

export interface PodReaderOptions {
  reservationLabel: string;
  clock: Clock;
  metrics: Pick<Metrics, 'podNamespaceMissing'>;
}

export function createPodReader(kube: Kube, options: PodReaderOptions): PodReader {
  const label = options.reservationLabel;
  const namespaceExists = namespaceCheck(kube, options);
  return {
    async podsForReservations(namespace, reservationIds) {
      const pods = new Map<string, ReturnType<typeof summarizePod>>();
      const failed = new Map<string, string>();
      // An id that is not a label value would make the API server refuse the whole selector (400):
      // such ids stay out of it, unlisted, and the caller reads their pods by name.
      const selectable = [...new Set(reservationIds)].filter(isLabelValue);
      for (let start = 0; start < selectable.length; start += IDS_PER_SELECTOR) {
        const chunk = selectable.slice(start, start + IDS_PER_SELECTOR);
        try {
          const list = await kube.listPods({ namespace, labelSelector: `${label} in (${chunk.join(',')})` });
          for (const pod of list.items) {
            const summary = summarizePod(pod as PodLike);
            const id = summary.labels?.[label];
            if (id) pods.set(id, summary);
          }
        } catch (err) {
          // One chunk's failure leaves only its own ids unknown.
          const error = `listing pods in ${namespace} failed: ${coerceError(err).message}`;
          for (const id of chunk) failed.set(id, error);
        }
      }
      return { pods, failed };
    },
    async listReservationPods(namespace, pageSize, continueToken) {
      try {
        const page = await kube.listPodsPage({
          namespace,
          labelSelector: label,
          pageSize,
          ...(continueToken !== undefined && { continueToken }),
          project: (pod) => summarizePod(pod as PodLike),
        });
        return {
          pods: page.items,
          ...(page.continueToken !== undefined && { continueToken: page.continueToken }),
        };
      } catch (err) {
        if (err instanceof ListExpired) return { expired: true, ...resumeToken(err) };
        throw err;
      }
    },
    async readPod(namespace, name) {
      try {
        return summarizePod((await kube.getPod({ namespace, name })) as PodLike);
      } catch (err) {
        if (!(err instanceof NotFound)) throw err;
        // The API server answers 404 for a pod in a namespace that does not exist, too: only a
        // namespace known to exist makes the 404 mean "this pod is gone".
        if (!(await namespaceExists(namespace))) {
          throw new Fatal(
            `namespace ${namespace} does not exist: the 404 for pod ${name} proves nothing about the pod`,
          );
        }
        return 'absent';
      }
    },
  };
}

/**
 * The continue token a 410 for an expired token carries (Status metadata.continue): the rest of the
 * list from the same key, at the current version.
 */
function resumeToken(err: ListExpired): { resumeToken?: string } {
  const body = (err.cause as { body?: unknown } | undefined)?.body;
  try {
    const status = (typeof body === 'string' ? JSON.parse(body) : body) as
      { metadata?: { continue?: unknown } } | undefined;
    const token = status?.metadata?.continue;
    return typeof token === 'string' && token !== '' ? { resumeToken: token } : {};
  } catch {
    return {}; // a body that is not a Status carries no token
  }
}

/** Does a namespace exist? Asked at most once a minute per namespace; failures are not kept. */
function namespaceCheck(kube: Kube, options: PodReaderOptions): (namespace: string) => Promise<boolean> {
  const answers = new Map<string, { at: number; exists: Promise<boolean> }>();
  return (namespace) => {
    const now = options.clock.now().getTime();
    const kept = answers.get(namespace);
    if (kept && now - kept.at < NAMESPACE_CHECK_MS && now >= kept.at) return kept.exists;
    const exists = kube.namespaceExists({ name: namespace }).then((found) => {
      if (!found) options.metrics.podNamespaceMissing.inc({ namespace });
      return found;
    });
    answers.set(namespace, { at: now, exists });
    exists.catch(() => {
      if (answers.get(namespace)?.exists === exists) answers.delete(namespace);
    });
    return exists;
  };
}

export function createClusterResources(kube: Kube): NamedResources {
  return createOwnedResources(kube);
}

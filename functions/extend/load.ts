/* extend's reads: the reservation as the policy sees it and, only when the rule applies, capacity. Read-only. */
import { actionSubject, gpuCapacity } from '../../shared/db/queries/actions.js';
import type { Db } from '../../shared/db/pool.js';
import { needsCapacity } from './decide.js';
import type { ActionPolicy, ActionRequest, Capacity, Subject } from './decide.js';

export interface Loaded {
  subject: Subject | undefined;
  capacity?: Capacity;
  podName: string | null;
  namespace: string | null;
}

export async function loadFor(
  db: Db,
  reservationId: string,
  request: ActionRequest,
  policy: ActionPolicy,
): Promise<Loaded> {
  const row = await actionSubject(db, reservationId);
  if (!row) return { subject: undefined, podName: null, namespace: null };
  const subject: Subject = {
    reservationId: row.reservation_id,
    status: row.status,
    expiresAt: row.expires_at,
    startedAt: row.launched_at ?? row.created_at,
    gpuType: row.gpu_type,
    extensions: row.extensions,
  };
  if (!needsCapacity(request, subject, policy)) return { subject, podName: row.pod_name, namespace: row.namespace };
  const capacity = await gpuCapacity(db, row.gpu_type!, row.reservation_id);
  return {
    subject,
    capacity: {
      waiting: capacity.waiting,
      oldestWaitingSince: capacity.oldest_waiting_since,
      nextFreeAt: capacity.next_free_at,
    },
    podName: row.pod_name,
    namespace: row.namespace,
  };
}

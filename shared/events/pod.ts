/*
 * The Pod object carried by pod-change events (Knative ApiServerSource in Resource mode, and our
 * own pod-watch source in the same shape). A Pod has hundreds of fields we never read, so only
 * the parts consumers use are checked and everything else passes through untouched.
 */
import { z } from 'zod';

const containerState = z.looseObject({
  running: z.looseObject({ startedAt: z.string().optional() }).optional(),
  waiting: z.looseObject({ reason: z.string().optional() }).optional(),
  terminated: z
    .looseObject({
      reason: z.string().optional(),
      exitCode: z.int(),
      finishedAt: z.string().optional(),
    })
    .optional(),
});

const containerStatus = z.looseObject({
  name: z.string().min(1),
  restartCount: z.int().nonnegative(),
  ready: z.boolean().optional(),
  state: containerState.optional(),
  lastState: containerState.optional(),
});

const condition = z.looseObject({
  type: z.string().min(1),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().optional(),
  message: z.string().optional(),
});

export const podSchema = z.looseObject({
  metadata: z.looseObject({
    name: z.string().min(1),
    namespace: z.string().min(1),
    uid: z.string().min(1),
    labels: z.record(z.string(), z.string()).optional(),
    deletionTimestamp: z.iso.datetime({ offset: true }).nullable().optional(),
  }),
  status: z
    .looseObject({
      phase: z.enum(['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown']).optional(),
      reason: z.string().optional(),
      message: z.string().optional(),
      conditions: z.array(condition).optional(),
      containerStatuses: z.array(containerStatus).optional(),
    })
    .optional(),
});

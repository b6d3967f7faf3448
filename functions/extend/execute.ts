/*
 * Carry out one accepted action in one commit of the run: the token's jti recorded as used, the
 * change under compare-and-set (status and the deadline it was decided on), the decision-log entry
 * and the CloudEvent staged in the outbox. If any part finds the state changed, nothing is written
 * but a decision saying so.
 */
import type { DecisionOutcome } from '../../shared/db/queries/decisions.js';
import {
  extendReservation,
  gpuCapacity,
  lockActiveDeadline,
  snoozeWarnings,
  useToken,
} from '../../shared/db/queries/actions.js';
import type { TokenUse } from '../../shared/db/queries/actions.js';
import { endReservations } from '../../shared/db/queries/reservations.js';
import type { Db } from '../../shared/db/pool.js';
import { buildEvent, sourceFor } from '../../shared/events/build.js';
import type { LifecycleEvent } from '../../shared/events/build.js';
import { EventTypes } from '../../shared/events/types.js';
import type { DecisionEntry, Run } from '../../shared/runtime/run.js';
import type { ActionRequest, Decision } from './decide.js';

export type Accepted = Exclude<Decision, { verdict: 'refuse' }>;
export type ExecuteOutcome = 'applied' | 'replay' | 'conflict' | 'capacity';

export interface Execution {
  reservationId: string;
  request: ActionRequest;
  decision: Accepted;
  extensionsBefore: number;
  /** The link's token, recorded as used in the same transaction; none for an operator. */
  token?: Pick<TokenUse, 'jti' | 'channel' | 'tokenExpiresAt'>;
  warningLevels: readonly number[];
  /** Set when the capacity rule applies: checked again, under a lock per GPU type, as the deadline moves. */
  capacityGpuType?: string;
}

class Lost extends Error {
  constructor(readonly outcome: 'replay' | 'conflict' | 'capacity') {
    super(outcome);
  }
}

const OUTCOME_OF = { extend: 'extended', snooze: 'snoozed', end: 'ended' } as const;

export async function execute(run: Run, ex: Execution): Promise<ExecuteOutcome> {
  try {
    await run.commit(async (db) => {
      const now = run.now();
      if (
        ex.token &&
        !(await useToken(
          db,
          {
            ...ex.token,
            reservationId: ex.reservationId,
            action: ex.request.kind,
            outcome: OUTCOME_OF[ex.decision.verdict],
          },
          now,
        ))
      ) {
        throw new Lost('replay');
      }
      const events = await apply(db, ex, now);
      if (!events) throw new Lost('conflict');
      return { value: undefined, events, decisions: [decisionOf(ex, 'applied')] };
    });
    return 'applied';
  } catch (err) {
    if (!(err instanceof Lost)) throw err;
    const lost = {
      ...decisionOf(ex, err.outcome === 'conflict' ? 'conflict' : 'skipped'),
      reason: LOST_REASON[err.outcome],
    };
    await run.commit(async () => ({ value: undefined, decisions: [lost] }));
    return err.outcome;
  }
}

const LOST_REASON = {
  replay: 'the link was used already',
  conflict: 'the reservation changed while acting (another click, an extension or expiry won)',
  capacity: 'refused (capacity): reservations for the same GPU type started waiting while acting',
} as const;

/** The events of the change, or undefined when the compare-and-set found the state changed. */
async function apply(client: Db, ex: Execution, now: Date): Promise<LifecycleEvent[] | undefined> {
  const { decision, reservationId } = ex;
  const subject = { source: sourceFor('extend'), subject: reservationId, time: now };
  if (decision.verdict === 'extend') {
    const request = {
      reservationId,
      expectedExpiresAt: decision.expectedExpiresAt,
      expectedExtensions: ex.extensionsBefore,
      newExpiresAt: decision.newExpiresAt,
      minutes: decision.minutes,
      now,
      capacityGpuType: ex.capacityGpuType,
    };
    if (!(await extendReservation(client, request))) {
      if (
        ex.capacityGpuType !== undefined &&
        (await gpuCapacity(client, ex.capacityGpuType, reservationId)).waiting > 0
      )
        throw new Lost('capacity');
      return undefined;
    }
    return [
      buildEvent(
        EventTypes.reservationExtended,
        {
          reservationId,
          previousExpiresAt: decision.expectedExpiresAt.toISOString(),
          expiresAt: decision.newExpiresAt.toISOString(),
          extensions: ex.extensionsBefore + 1,
          by: ex.request.by,
          extendedAt: now.toISOString(),
        },
        subject,
      ),
    ];
  }
  if (decision.verdict === 'snooze') {
    if (!(await lockActiveDeadline(client, reservationId, decision.expectedExpiresAt))) return undefined;
    await snoozeWarnings(client, reservationId, decision.expectedExpiresAt, ex.warningLevels, now);
    return [];
  }
  const [ended] = await endReservations(client, [
    {
      reservationId,
      from: 'active',
      to: 'cancelled',
      reason: decision.reason,
      expectedExpiresAt: decision.expectedExpiresAt,
      recordReason: true,
      now,
    },
  ]);
  if (!ended) return undefined;
  return [
    buildEvent(
      EventTypes.reservationEndedByUser,
      {
        reservationId,
        previousStatus: 'active',
        reason: decision.reason,
        podName: ended.pod_name,
        namespace: ended.namespace,
        expiresAt: decision.expectedExpiresAt.toISOString(),
        endedAt: now.toISOString(),
        by: ex.request.by,
      },
      subject,
    ),
  ];
}

function decisionOf(ex: Execution, outcome: DecisionOutcome): DecisionEntry {
  return {
    entityKind: 'reservation',
    entityId: ex.reservationId,
    action: ex.request.kind,
    reason: ex.decision.reason,
    inputs: ex.decision.inputs,
    outcome,
  };
}

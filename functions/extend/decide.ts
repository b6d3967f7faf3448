/*
 * extend's pure core: given the reservation as read, the capacity evidence and the policy, what one
 * requested action does. Every answer carries its reason and the inputs it was decided on (they go
 * to the decision log); a refusal names its rule and, where it can be known, when it could succeed.
 */
import type { ActionKind } from '../../shared/actions/token.js';

export type Channel = 'link' | 'slack' | 'operator';

export interface ActionRequest {
  kind: ActionKind;
  /** extend only. */
  minutes?: number;
  /** The deadline a link was issued for; an operator acts on the current one (undefined). */
  issuedForDeadline?: Date;
  by: Channel;
  /** Operator only: extend even while reservations for the same GPU type wait. */
  bypassCapacity?: boolean;
}

export interface Subject {
  reservationId: string;
  status: string;
  expiresAt: Date | null;
  /** launched_at, else created_at: what the maximum lifetime is counted from. */
  startedAt: Date;
  gpuType: string | null;
  extensions: number;
}

export interface Capacity {
  waiting: number;
  oldestWaitingSince: Date | null;
  nextFreeAt: Date | null;
}

export interface ActionPolicy {
  maxExtendMinutes: number;
  maxExtensions: number;
  maxLifetimeHours: number;
  capacityRule: boolean;
}

export type RefusalRule =
  | 'not-found'
  | 'not-active'
  | 'no-deadline'
  | 'deadline-passed'
  | 'stale-link'
  | 'max-per-extension'
  | 'max-extensions'
  | 'max-lifetime'
  | 'capacity';

type Inputs = Record<string, string | number | boolean | null>;

export type Decision =
  | { verdict: 'extend'; reason: string; expectedExpiresAt: Date; newExpiresAt: Date; minutes: number; inputs: Inputs }
  | { verdict: 'snooze'; reason: string; expectedExpiresAt: Date; inputs: Inputs }
  | { verdict: 'end'; reason: string; expectedExpiresAt: Date; inputs: Inputs }
  | { verdict: 'refuse'; rule: RefusalRule; reason: string; possibleAt?: Date; inputs: Inputs };

export interface DecideInput {
  request: ActionRequest;
  subject: Subject | undefined;
  /** Read only when the capacity rule applies to this request (see needsCapacity). */
  capacity?: Capacity;
  policy: ActionPolicy;
  now: Date;
}

const iso = (date: Date | null | undefined) => date?.toISOString() ?? null;

/** Whether deciding this request needs the capacity evidence read first. */
export function needsCapacity(request: ActionRequest, subject: Subject | undefined, policy: ActionPolicy): boolean {
  return request.kind === 'extend' && policy.capacityRule && !request.bypassCapacity && subject?.gpuType != null;
}

export function decide({ request, subject, capacity, policy, now }: DecideInput): Decision {
  const inputs: Inputs = {
    action: request.kind,
    by: request.by,
    now: iso(now),
    issuedForDeadline: iso(request.issuedForDeadline),
    status: subject?.status ?? null,
    expiresAt: iso(subject?.expiresAt),
  };
  const refuse = (rule: RefusalRule, reason: string, extra: Inputs = {}, possibleAt?: Date): Decision => ({
    verdict: 'refuse',
    rule,
    reason,
    inputs: { ...inputs, ...extra },
    ...(possibleAt ? { possibleAt } : {}),
  });
  if (!subject) return refuse('not-found', 'no such reservation');
  if (subject.status !== 'active')
    return refuse('not-active', `the reservation is ${subject.status}, not active: it cannot be changed any more`);
  const deadline = subject.expiresAt;
  if (deadline === null) return refuse('no-deadline', 'the reservation has no deadline to act on');
  if (deadline <= now)
    return refuse('deadline-passed', `the deadline ${iso(deadline)} has passed; the reservation is ending`);
  if (request.issuedForDeadline && request.issuedForDeadline.getTime() !== deadline.getTime()) {
    return refuse(
      'stale-link',
      `this link was issued for the deadline ${iso(request.issuedForDeadline)}; the deadline is now ${iso(deadline)} (use the links of the newest warning)`,
    );
  }
  if (request.kind === 'snooze')
    return {
      verdict: 'snooze',
      reason: `snooze the remaining warnings for the deadline ${iso(deadline)}`,
      expectedExpiresAt: deadline,
      inputs,
    };
  if (request.kind === 'end-now')
    return {
      verdict: 'end',
      reason: 'ended by the user from a warning (work saved)',
      expectedExpiresAt: deadline,
      inputs,
    };
  return decideExtension(request, { ...subject, expiresAt: deadline }, capacity, policy, refuse, inputs);
}

type Refuse = (rule: RefusalRule, reason: string, extra?: Inputs, possibleAt?: Date) => Decision;

function decideExtension(
  request: ActionRequest,
  subject: Subject & { expiresAt: Date },
  capacity: Capacity | undefined,
  policy: ActionPolicy,
  refuse: Refuse,
  inputs: Inputs,
): Decision {
  const minutes = request.minutes ?? 0;
  const limits = {
    minutes,
    extensions: subject.extensions,
    maxExtendMinutes: policy.maxExtendMinutes,
    maxExtensions: policy.maxExtensions,
    maxLifetimeHours: policy.maxLifetimeHours,
  };
  if (!Number.isInteger(minutes) || minutes <= 0)
    return refuse('max-per-extension', 'an extension must be a positive whole number of minutes', limits);
  if (minutes > policy.maxExtendMinutes)
    return refuse(
      'max-per-extension',
      `an extension may be at most ${policy.maxExtendMinutes} minutes (asked ${minutes})`,
      limits,
    );
  if (subject.extensions >= policy.maxExtensions)
    return refuse(
      'max-extensions',
      `the reservation has had ${subject.extensions} of at most ${policy.maxExtensions} extensions`,
      limits,
    );
  // From the current deadline, never from now: an extension only ever moves the deadline later.
  const newExpiresAt = new Date(subject.expiresAt.getTime() + minutes * 60_000);
  const latest = new Date(subject.startedAt.getTime() + policy.maxLifetimeHours * 3_600_000);
  if (newExpiresAt > latest) {
    return refuse(
      'max-lifetime',
      `the reservation may last at most ${policy.maxLifetimeHours} hours from its start ${iso(subject.startedAt)}, so it may end no later than ${iso(latest)}`,
      { ...limits, startedAt: iso(subject.startedAt), latestAllowed: iso(latest) },
    );
  }
  const capacityInputs = {
    gpuType: subject.gpuType,
    capacityRule: policy.capacityRule,
    bypassCapacity: request.bypassCapacity === true,
    waiting: capacity?.waiting ?? null,
  };
  if (capacity && capacity.waiting > 0) {
    // Worth telling only if a GPU frees up before this reservation's own deadline.
    const possibleAt =
      capacity.nextFreeAt !== null && capacity.nextFreeAt < subject.expiresAt ? capacity.nextFreeAt : undefined;
    const when = possibleAt ? `; the next ${subject.gpuType} GPU is due to free up at ${iso(possibleAt)}` : '';
    return refuse(
      'capacity',
      `${capacity.waiting} reservation(s) for ${subject.gpuType} GPUs are waiting (the oldest since ${iso(capacity.oldestWaitingSince)})${when}`,
      { ...limits, ...capacityInputs, nextFreeAt: iso(capacity.nextFreeAt) },
      possibleAt,
    );
  }
  return {
    verdict: 'extend',
    reason: `extend by ${minutes} minutes from the current deadline`,
    expectedExpiresAt: subject.expiresAt,
    newExpiresAt,
    minutes,
    inputs: { ...inputs, ...limits, ...capacityInputs, newExpiresAt: iso(newExpiresAt) },
  };
}

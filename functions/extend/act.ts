/*
 * One action, end to end: verify the token (links and Slack) or take the operator's word, read,
 * decide, execute, and say what happened. Each acting request is a run of the kernel's request
 * path (shared/runtime/request-run.ts: the runs table, counts, metric, pause, decision log, outbox
 * delivery after commit); every answer about a genuine request is in the decision log. A preview
 * (the GET confirmation page) reads and decides but never writes.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { TokenRejected, verifyActionToken } from '../../shared/actions/token.js';
import type { ActionClaims } from '../../shared/actions/token.js';
import type { ActionSettings } from '../../shared/config.js';
import type { Clock } from '../../shared/clock.js';
import { tokenUsed } from '../../shared/db/queries/actions.js';
import { refuseBeforeRun, runRequest } from '../../shared/runtime/request-run.js';
import type { Explanation, RequestStep } from '../../shared/runtime/request-run.js';
import type { RunServices } from '../../shared/runtime/run-scope.js';
import { decide, needsCapacity } from './decide.js';
import type { ActionPolicy, ActionRequest, Decision, RefusalRule, Subject } from './decide.js';
import { execute } from './execute.js';
import type { Accepted, ExecuteOutcome } from './execute.js';
import { loadFor } from './load.js';

export interface ActDeps {
  pool: pg.Pool;
  clock: Clock;
  log: Logger;
  run: RunServices;
  config: { actions: ActionSettings; policy: { warningMinutes: readonly number[] } };
}

export type Done = {
  kind: 'done';
  reservationId: string;
  action: ActionRequest['kind'];
  detail: string;
  expiresAt?: Date;
  runId?: string;
};
export type RefusedRule =
  | RefusalRule
  | 'replay'
  | 'state-changed'
  | 'expired-link'
  | 'invalid-link'
  | 'unknown-link'
  | 'paused'
  | 'not-configured';
export type Refused = {
  kind: 'refused';
  status: number;
  rule: RefusedRule;
  detail: string;
  reservationId?: string;
  possibleAt?: Date;
};
export type Answer = Done | Refused;
export interface Preview {
  kind: 'preview';
  reservationId: string;
  request: ActionRequest;
  decision: Decision;
  policy: ActionPolicy;
}

export type Channel = 'link' | 'slack';

export function policyOf(actions: ActionSettings): ActionPolicy {
  return {
    maxExtendMinutes: actions.maxExtendMinutes,
    maxExtensions: actions.maxExtensions,
    maxLifetimeHours: actions.maxLifetimeHours,
    capacityRule: actions.capacityRule,
  };
}

/** Verify a link's token; a refusal answer when it must not act (tampered 401, expired 410, used 409). */
export async function checkToken(
  deps: ActDeps,
  token: string,
  kind: 'act' | 'preview',
): Promise<ActionClaims | Refused> {
  const key = deps.config.actions.signingKey;
  if (key === undefined)
    return { kind: 'refused', status: 404, rule: 'not-configured', detail: 'action links are not configured here' };
  let claims: ActionClaims;
  try {
    claims = await verifyActionToken(key, token, deps.clock.now());
  } catch (err) {
    if (!(err instanceof TokenRejected)) throw err;
    await refuseBeforeRun(deps.run, 'extend', {
      kind: 'link',
      outcome: err.reason === 'expired' ? 'expired' : 'invalid',
    });
    return err.reason === 'expired'
      ? {
          kind: 'refused',
          status: 410,
          rule: 'expired-link',
          detail: 'this action link has expired; use the links of the newest warning',
        }
      : {
          kind: 'refused',
          status: 401,
          rule: 'invalid-link',
          detail: 'this action link is not valid (altered, truncated or not ours)',
        };
  }
  if (await tokenUsed(deps.pool, claims.jti)) {
    if (kind === 'act') await recordReplay(deps, claims);
    return {
      kind: 'refused',
      status: 409,
      rule: 'replay',
      detail: 'this action link was used already; each link acts once',
      reservationId: claims.reservationId,
    };
  }
  return claims;
}

export function requestOf(claims: ActionClaims, by: Channel): ActionRequest {
  return { kind: claims.action, minutes: claims.minutes, issuedForDeadline: claims.deadline, by };
}

/** What a POST would do now, for the confirmation page. Reads only. */
export async function preview(deps: ActDeps, claims: ActionClaims): Promise<Preview> {
  const policy = policyOf(deps.config.actions);
  const request = requestOf(claims, 'link');
  const loaded = await loadFor(deps.pool, claims.reservationId, request, policy);
  const decision = decide({
    request,
    subject: loaded.subject,
    capacity: loaded.capacity,
    policy,
    now: deps.clock.now(),
  });
  return { kind: 'preview', reservationId: claims.reservationId, request, decision, policy };
}

type Refusal = Extract<Decision, { verdict: 'refuse' }>;
/** An accepted action and the reservation it was decided on. */
type Chosen = { decision: Accepted; subject: Subject };

export async function act(
  deps: ActDeps,
  reservationId: string,
  request: ActionRequest,
  claims?: ActionClaims,
): Promise<Answer> {
  const result = await runRequest(deps.run, 'extend', request.by, actionStep(deps, reservationId, request, claims));
  if ('refused' in result) return refusalAnswer(result.refused, reservationId);
  // The operator's pause (LIFECYCLE_PAUSED) holds every change; a person who clicked is told so
  // and may try again later.
  if (result.outcome === 'paused')
    return {
      kind: 'refused',
      status: 503,
      rule: 'paused',
      detail: 'the lifecycle is paused (LIFECYCLE_PAUSED): nothing is changed; try again later',
      reservationId,
    };
  const answer = answerFor(result.outcome, reservationId, request, result.accepted.decision);
  return answer.kind === 'done' ? { ...answer, runId: result.runId } : answer;
}

/** load → decide → execute for one request; the kernel (runRequest) runs it as a run. */
function actionStep(
  deps: ActDeps,
  reservationId: string,
  request: ActionRequest,
  claims: ActionClaims | undefined,
): RequestStep<Refusal, Chosen, ExecuteOutcome> {
  const policy = policyOf(deps.config.actions);
  return {
    asked: { kind: request.kind, entity: { kind: 'reservation', id: reservationId } },
    decide: async (run) => {
      const { subject, capacity } = await loadFor(deps.pool, reservationId, request, policy);
      const decision = decide({ request, subject, capacity, policy, now: run.now() });
      if (decision.verdict === 'refuse')
        return { refused: decision, explanation: subject ? explanationOf(decision) : undefined };
      return { accepted: { decision, subject: subject! } };
    },
    execute: (run, { decision, subject }) =>
      execute(run, {
        reservationId,
        request,
        decision,
        token:
          claims && request.by !== 'operator'
            ? { jti: claims.jti, channel: request.by, tokenExpiresAt: claims.expiresAt }
            : undefined,
        extensionsBefore: subject.extensions,
        warningLevels: deps.config.policy.warningMinutes,
        capacityGpuType: needsCapacity(request, subject, policy) ? subject.gpuType! : undefined,
      }),
  };
}

function refusalAnswer({ rule, reason, possibleAt }: Refusal, reservationId: string): Refused {
  return { kind: 'refused', status: rule === 'not-found' ? 404 : 409, rule, detail: reason, reservationId, possibleAt };
}

function answerFor(outcome: ExecuteOutcome, reservationId: string, request: ActionRequest, decision: Accepted): Answer {
  if (outcome === 'replay')
    return {
      kind: 'refused',
      status: 409,
      rule: 'replay',
      detail: 'this action link was used already; each link acts once',
      reservationId,
    };
  if (outcome === 'capacity')
    return {
      kind: 'refused',
      status: 409,
      rule: 'capacity',
      detail: 'reservations for the same GPU type started waiting while acting; nothing was changed',
      reservationId,
    };
  if (outcome === 'conflict')
    return {
      kind: 'refused',
      status: 409,
      rule: 'state-changed',
      detail:
        'the reservation changed while acting (another click, an extension or its expiry came first); nothing was changed',
      reservationId,
    };
  if (decision.verdict === 'extend')
    return {
      kind: 'done',
      reservationId,
      action: request.kind,
      detail: `extended by ${decision.minutes} minutes; the new deadline is ${decision.newExpiresAt.toISOString()}`,
      expiresAt: decision.newExpiresAt,
    };
  if (decision.verdict === 'snooze')
    return {
      kind: 'done',
      reservationId,
      action: request.kind,
      detail: `the remaining warnings for the deadline ${decision.expectedExpiresAt.toISOString()} are snoozed; an extension re-arms them`,
      expiresAt: decision.expectedExpiresAt,
    };
  return {
    kind: 'done',
    reservationId,
    action: request.kind,
    detail: 'the reservation is ending now; its environment is torn down and its disk snapshotted',
  };
}

/** Why the decision log says a request was refused, with the rule and when it would be possible. */
function explanationOf(decision: Refusal): Explanation {
  return {
    reason: `refused (${decision.rule}): ${decision.reason}`,
    inputs: { ...decision.inputs, rule: decision.rule, possibleAt: decision.possibleAt?.toISOString() ?? null },
  };
}

async function recordReplay(deps: ActDeps, claims: ActionClaims): Promise<void> {
  await refuseBeforeRun(deps.run, 'extend', {
    kind: claims.action,
    outcome: 'replay',
    about: {
      entity: { kind: 'reservation', id: claims.reservationId },
      reason: 'refused (replay): the link was used already',
      inputs: { issuedForDeadline: claims.deadline.toISOString() },
    },
  });
}

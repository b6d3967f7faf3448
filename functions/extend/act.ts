/*
 * One action, end to end: verify the token (links and Slack) or take the operator's word, read,
 * decide, execute, and say what happened. Each acting request is a run (runs table, outbox
 * delivery after commit); every answer about a genuine request is in the decision log. A preview
 * (the GET confirmation page) reads and decides but never writes.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from 'pino';
import { TokenRejected, verifyActionToken } from '../../shared/actions/token.js';
import type { ActionClaims } from '../../shared/actions/token.js';
import type { ActionSettings } from '../../shared/config.js';
import type { Clock } from '../../shared/clock.js';
import { tokenUsed } from '../../shared/db/queries/actions.js';
import { appendDecisions } from '../../shared/db/queries/decisions.js';
import { baseOptionsSchema } from '../../shared/runtime/invocation.js';
import type { Metrics } from '../../shared/runtime/metrics.js';
import { runScoped } from '../../shared/runtime/run-scope.js';
import type { RunReport, RunServices } from '../../shared/runtime/run-scope.js';
import { decide, needsCapacity } from './decide.js';
import type { ActionPolicy, ActionRequest, Decision, RefusalRule } from './decide.js';
import { execute } from './execute.js';
import type { ExecuteOutcome } from './execute.js';
import { loadFor } from './load.js';

export interface ActDeps {
  pool: pg.Pool;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
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
    deps.metrics.actions.inc({
      function: 'extend',
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

export async function act(
  deps: ActDeps,
  reservationId: string,
  request: ActionRequest,
  claims?: ActionClaims,
): Promise<Answer> {
  let answer: Answer | undefined;
  // The default options: a request acts (the operator's pause below is the only thing that holds it).
  const invocation = {
    kind: 'manual' as const,
    callId: randomUUID(),
    options: baseOptionsSchema.parse({}),
    caller: request.by,
  };
  const result = await runScoped(deps.run, 'extend', invocation, async (scope): Promise<RunReport> => {
    const policy = policyOf(deps.config.actions);
    const loaded = await loadFor(deps.pool, reservationId, request, policy);
    const decision = decide({ request, subject: loaded.subject, capacity: loaded.capacity, policy, now: scope.now() });
    const count = (outcome: string) => deps.metrics.actions.inc({ function: 'extend', kind: request.kind, outcome });
    if (decision.verdict === 'refuse') {
      count('refused');
      if (loaded.subject)
        await appendDecisions(deps.pool, [decisionEntry(scope.runId, reservationId, request, decision)], scope.now());
      answer = {
        kind: 'refused',
        status: decision.rule === 'not-found' ? 404 : 409,
        rule: decision.rule,
        detail: decision.reason,
        reservationId,
        possibleAt: decision.possibleAt,
      };
      return { summary: { refused: 1 }, failures: [] };
    }
    // The operator's pause (LIFECYCLE_PAUSED) holds every change; a person who clicked is told so
    // and may try again later.
    if (deps.run.paused) {
      answer = {
        kind: 'refused',
        status: 503,
        rule: 'paused',
        detail: 'the lifecycle is paused (LIFECYCLE_PAUSED): nothing is changed; try again later',
        reservationId,
      };
      return { summary: { paused: 1 }, failures: [] };
    }
    const token =
      claims && request.by !== 'operator'
        ? { jti: claims.jti, channel: request.by, tokenExpiresAt: claims.expiresAt }
        : undefined;
    const outcome = await execute(scope, deps.pool, {
      reservationId,
      request,
      decision,
      token,
      extensionsBefore: loaded.subject!.extensions,
      warningLevels: deps.config.policy.warningMinutes,
      capacityGpuType: needsCapacity(request, loaded.subject, policy) ? loaded.subject!.gpuType! : undefined,
    });
    count(outcome);
    answer = answerFor(outcome, reservationId, request, decision);
    return { summary: { [outcome]: 1 }, failures: [] };
  });
  if (!answer) throw new Error('extend run ended without an answer');
  return answer.kind === 'done' ? { ...answer, runId: result.runId } : answer;
}

function answerFor(
  outcome: ExecuteOutcome,
  reservationId: string,
  request: ActionRequest,
  decision: Exclude<Decision, { verdict: 'refuse' }>,
): Answer {
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

function decisionEntry(
  runId: string | undefined,
  reservationId: string,
  request: ActionRequest,
  decision: Extract<Decision, { verdict: 'refuse' }>,
) {
  return {
    runId,
    fn: 'extend',
    entityKind: 'reservation' as const,
    entityId: reservationId,
    action: request.kind,
    reason: `refused (${decision.rule}): ${decision.reason}`,
    inputs: { ...decision.inputs, rule: decision.rule, possibleAt: decision.possibleAt?.toISOString() ?? null },
    outcome: 'skipped' as const,
  };
}

async function recordReplay(deps: ActDeps, claims: ActionClaims): Promise<void> {
  deps.metrics.actions.inc({ function: 'extend', kind: claims.action, outcome: 'replay' });
  await appendDecisions(
    deps.pool,
    [
      {
        fn: 'extend',
        entityKind: 'reservation',
        entityId: claims.reservationId,
        action: claims.action,
        reason: 'refused (replay): the link was used already',
        inputs: { issuedForDeadline: claims.deadline.toISOString() },
        outcome: 'skipped',
      },
    ],
    deps.clock.now(),
  );
}

/*
 * One request that needs an answer now (a person's click, a Slack reply, an operator's command) as
 * a run of its function. A scheduled run works through many actions (decide-and-execute.ts); here
 * one action is decided and carried out while the caller waits, so the function gets back what
 * happened to map it to its answer. The function supplies decide (with its load) and execute for
 * the one request; the kernel records the run, counts the outcome in the run's summary and the
 * action metric, writes the refusal's decision through the run's commit, and holds an accepted
 * action under the operator's pause. A refusal is answered and recorded even when paused: it
 * changes nothing, and the person deserves to know why.
 */
import { randomUUID } from 'node:crypto';
import { appendDecisions } from '../db/queries/decisions.js';
import type { Action } from '../plan.js';
import type { FunctionName } from './invocation.js';
import { baseOptionsSchema } from './invocation.js';
import { Run } from './run.js';
import type { DecisionEntry } from './run.js';
import { runScoped } from './run-scope.js';
import type { RunServices } from './run-scope.js';

/** What the request asks for, and about which entity: the metric's kind and the decision log's subject. */
export type Asked = Pick<Action, 'kind' | 'entity'>;

/** Why a request is refused, for the decision log. */
export type Explanation = Pick<Action, 'reason' | 'inputs'>;

export interface Refusal<R> {
  refused: R;
  /** Absent when the entity does not exist: there is nothing to write it about. */
  explanation?: Explanation;
}

export interface RequestStep<R, A, O extends string> {
  asked: Asked;
  /** load → decide, reading only: a refusal, or the action accepted. */
  decide(run: Run): Promise<Refusal<R> | { accepted: A }>;
  /** Carries the accepted action out through `run.commit` (effect, events and decision in one transaction). */
  execute(run: Run, accepted: A): Promise<O>;
}

/** What happened to the request; `paused`: accepted, but held by the operator's pause. */
export type RequestResult<R, A, O> = { runId?: string } & ({ refused: R } | { accepted: A; outcome: O | 'paused' });

/**
 * The request as one run: decide, then (unless refused or paused) execute. An error thrown by
 * either is not an outcome: the run is recorded `failed` and the error reaches the caller, who
 * answers it as a server error, and nothing is counted.
 */
export async function runRequest<R, A, O extends string>(
  services: RunServices,
  fn: FunctionName,
  caller: string,
  step: RequestStep<R, A, O>,
): Promise<RequestResult<R, A, O>> {
  let result: RequestResult<R, A, O> | undefined;
  // A request never asks for a dry run: the default options, so only the operator's pause holds it.
  const invocation = { kind: 'manual' as const, callId: randomUUID(), options: baseOptionsSchema.parse({}), caller };
  const { runId } = await runScoped(services, fn, invocation, async (scope) => {
    const run = new Run(scope, services);
    result = await decideThenAct(run, step);
    return run.report();
  });
  if (!result) throw new Error(`${fn}: the request's run ended without an outcome`);
  return { ...result, runId };
}

/** decide → (refused | paused | execute), each counted; the refusal's decision through the run's commit. */
async function decideThenAct<R, A, O extends string>(
  run: Run,
  step: RequestStep<R, A, O>,
): Promise<RequestResult<R, A, O>> {
  const decided = await step.decide(run);
  if ('refused' in decided) {
    const { explanation } = decided;
    tally(run, step.asked.kind, 'refused');
    if (explanation)
      await run.commit(async () => ({ value: undefined, decisions: [refusalEntry(step.asked, explanation)] }));
    return { refused: decided.refused };
  }
  // The run is dry only under the pause (see above): nothing is changed and no action is counted.
  if (run.scope.dryRun) {
    run.count('paused');
    return { accepted: decided.accepted, outcome: 'paused' };
  }
  const outcome = await step.execute(run, decided.accepted);
  tally(run, step.asked.kind, outcome);
  return { accepted: decided.accepted, outcome };
}

/** A request refused before any run starts: how, and what about (with why) when it names an entity. */
export interface EarlyRefusal {
  kind: string;
  outcome: string;
  about?: { entity: Asked['entity'] } & Explanation;
}

/**
 * A request refused before it is a run (a link altered, expired or used already; a request Slack
 * did not sign): nothing was loaded or decided, so there is no run row, but the action metric
 * counts it and, when it names an entity, the decision log says why.
 */
export async function refuseBeforeRun(
  services: Pick<RunServices, 'pool' | 'metrics' | 'clock'>,
  fn: FunctionName,
  refusal: EarlyRefusal,
): Promise<void> {
  services.metrics.actions.inc({ function: fn, kind: refusal.kind, outcome: refusal.outcome });
  if (!refusal.about) return;
  const { entity, ...explanation } = refusal.about;
  const entry = refusalEntry({ kind: refusal.kind, entity }, explanation);
  await appendDecisions(services.pool, [{ ...entry, fn, outcome: 'skipped' }], services.clock.now());
}

/** One in the run's summary and in the action metric, under the outcome's name. */
function tally(run: Run, kind: string, outcome: string): void {
  run.count(outcome);
  run.metrics.actions.inc({ function: run.fn, kind, outcome });
}

function refusalEntry(asked: Asked, explanation: Explanation): DecisionEntry {
  return {
    entityKind: asked.entity.kind,
    entityId: asked.entity.id,
    action: asked.kind,
    reason: explanation.reason,
    inputs: explanation.inputs,
    outcome: 'skipped',
  };
}

/*
 * Policy preview: a kernel function's decision on the live data twice — with the current settings
 * and with changed ones — at the same instant, and what the changed settings would do that the
 * current ones do not (and the reverse). Nothing is written: no run row, no decision, no lock, no
 * event; every load is read-only by the kernel's contract and nothing is executed. A staged
 * function's stages are each decided on the data as it is now; a paged function reads its pages up
 * to its page budget (each side its own).
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../../config.js';
import { Invalid } from '../../errors.js';
import type { Action, PlannedStep } from '../../plan.js';
import type { KernelDefinition, KernelDeps } from '../define-function.js';
import type { BaseOptions, FunctionDefinition } from '../invocation.js';
import { Run } from '../run.js';
import type { RunScope } from '../run-scope.js';

type PreviewDeps = KernelDeps & { config: Config };
type AnyKernelFunction = KernelDefinition<BaseOptions, PreviewDeps>;

export interface PreviewedAction {
  kind: string;
  entity: { kind: string; id: string };
  reason: string;
  destructive: boolean;
  /** The stage (or part of a paged run) that decided it, for a function of several. */
  step?: string;
  item?: Action['item'];
}

export interface Preview {
  fn: string;
  at: string;
  /** Actions the changed settings would take now that the current ones would not. */
  added: PreviewedAction[];
  /** Actions the current settings take now that the changed ones would not. */
  dropped: PreviewedAction[];
  /** Actions both would take. */
  unchanged: number;
  /** What the reader must know to read the lists: how the steps were decided, what was read. */
  notes: string[];
}

export function kernelFunction(fn: FunctionDefinition<BaseOptions, never>): AnyKernelFunction {
  if (typeof (fn as Partial<AnyKernelFunction>).plan !== 'function') {
    throw new Invalid(
      `${fn.name} is not on the run kernel yet (defineFunction in shared/runtime/define-function.ts), so it cannot be previewed`,
      [{ field: 'fn', message: 'not on the run kernel' }],
    );
  }
  return fn as unknown as AnyKernelFunction;
}

const STEPS_NOTE =
  'each step is decided on the data as it is now: a step that in a real run would act on what an earlier step ' +
  'does in the same run (a volume deleted once the snapshot an earlier stage starts completes, the notice of a ' +
  'kill the pages would record) shows only what it would do without that effect';

export async function previewPolicy(
  fn: AnyKernelFunction,
  deps: PreviewDeps,
  changed: Config,
  options: Record<string, unknown> = {},
): Promise<Preview> {
  const now = deps.run.clock.now();
  const current = await plan(fn, deps, now, options);
  const proposed = await plan(fn, { ...deps, config: changed }, now, options);
  const currentKeys = new Set(current.map(key));
  const proposedKeys = new Set(proposed.map(key));
  return {
    fn: fn.name,
    at: now.toISOString(),
    added: proposed.filter((action) => !currentKeys.has(key(action))).map(shown),
    dropped: current.filter((action) => !proposedKeys.has(key(action))).map(shown),
    unchanged: proposed.filter((action) => currentKeys.has(key(action))).length,
    notes: [
      ...(new Set(current.steps.map((step) => step.step)).size > 1 ? [STEPS_NOTE] : []),
      ...notesOf('current settings', current.steps),
      ...notesOf('changed settings', proposed.steps),
    ],
  };
}

type Planned = Action & { step?: string };

const key = (action: Planned) => [action.step ?? '', action.kind, action.entity.kind, action.entity.id].join('\u0000');

const notesOf = (side: string, steps: PlannedStep[]): string[] =>
  steps.flatMap((step) => (step.note ? [`${side}, ${step.step ?? fnStepless}: ${step.note}`] : []));
const fnStepless = 'the run';

async function plan(
  fn: AnyKernelFunction,
  deps: PreviewDeps,
  now: Date,
  raw: Record<string, unknown>,
): Promise<Planned[] & { steps: PlannedStep[] }> {
  const options = fn.optionsSchema.parse({ ...raw, dryRun: true });
  const maxItems = options.maxItems ?? deps.config.run.maxItems;
  const run = new Run(previewScope(fn, deps, now, maxItems), deps.run);
  const invocation = { kind: 'manual' as const, callId: `preview-${randomUUID()}`, options };
  const steps = await fn.plan({ run, deps, invocation, limit: maxItems });
  const actions = steps.flatMap((step) =>
    step.actions.map((action): Planned => (step.step !== undefined ? { ...action, step: step.step } : action)),
  );
  return Object.assign(actions, { steps });
}

/** A dry-run scope that can write nothing: it stages no event and claims none. */
function previewScope(fn: AnyKernelFunction, deps: PreviewDeps, now: Date, maxItems: number): RunScope {
  return {
    runId: randomUUID(),
    fn: fn.name,
    log: deps.run.log.child({ fn: fn.name, preview: true }),
    dryRun: true,
    maxItems,
    deadline: new Date(now.getTime() + deps.run.budgetSeconds * 1000),
    now: () => now,
    stage: async () => {},
    outboxRecords: () => undefined,
    staged: () => undefined,
    claimEvent: async () => true,
    claimCommitted: () => undefined,
  };
}

function shown(action: Planned): PreviewedAction {
  return {
    kind: action.kind,
    entity: action.entity,
    reason: action.reason,
    destructive: action.destructive === true,
    ...(action.step !== undefined ? { step: action.step } : {}),
    ...(action.item ? { item: action.item } : {}),
  };
}

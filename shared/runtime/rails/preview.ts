/*
 * Policy preview: a kernel function's load and decide on the live data twice — with the current
 * settings and with changed ones — at the same instant, and what the changed settings would do
 * that the current ones do not (and the reverse). Nothing is written: no run row, no decision, no
 * lock, no event; load is read-only by the kernel's contract and nothing is executed.
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../../config.js';
import { Invalid } from '../../errors.js';
import type { Action } from '../../plan.js';
import type { KernelDefinition, KernelDeps } from '../define-function.js';
import type { BaseOptions, FunctionDefinition } from '../invocation.js';
import { Run } from '../run.js';
import type { RunScope } from '../run-scope.js';

type PreviewDeps = KernelDeps & { config: Config };
type AnyKernelFunction = KernelDefinition<BaseOptions, PreviewDeps, unknown, Action>;

export interface PreviewedAction {
  kind: string;
  entity: { kind: string; id: string };
  reason: string;
  destructive: boolean;
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
}

export function kernelFunction(fn: FunctionDefinition<BaseOptions, never>): AnyKernelFunction {
  const candidate = fn as Partial<AnyKernelFunction>;
  if (typeof candidate.load !== 'function' || typeof candidate.decide !== 'function') {
    throw new Invalid(
      `${fn.name} is not on the run kernel yet (defineFunction in shared/runtime/define-function.ts), so it cannot be previewed`,
      [{ field: 'fn', message: 'not on the run kernel' }],
    );
  }
  return fn as unknown as AnyKernelFunction;
}

export async function previewPolicy(
  fn: AnyKernelFunction,
  deps: PreviewDeps,
  changed: Config,
  options: Record<string, unknown> = {},
): Promise<Preview> {
  const now = deps.run.clock.now();
  const current = await plan(fn, deps, now, options);
  const proposed = await plan(fn, { ...deps, config: changed }, now, options);
  const key = (action: Action) => `${action.kind}\u0000${action.entity.kind}\u0000${action.entity.id}`;
  const currentKeys = new Set(current.map(key));
  const proposedKeys = new Set(proposed.map(key));
  return {
    fn: fn.name,
    at: now.toISOString(),
    added: proposed.filter((action) => !currentKeys.has(key(action))).map(shown),
    dropped: current.filter((action) => !proposedKeys.has(key(action))).map(shown),
    unchanged: proposed.filter((action) => currentKeys.has(key(action))).length,
  };
}

async function plan(
  fn: AnyKernelFunction,
  deps: PreviewDeps,
  now: Date,
  raw: Record<string, unknown>,
): Promise<Action[]> {
  const options = fn.optionsSchema.parse({ ...raw, dryRun: true });
  const maxItems = options.maxItems ?? deps.config.run.maxItems;
  const run = new Run(previewScope(fn, deps, now, maxItems), deps.run);
  const invocation = { kind: 'manual' as const, callId: `preview-${randomUUID()}`, options };
  const loaded = await fn.load({ run, deps, invocation });
  return fn.decide(loaded, { now, options, maxItems }).actions;
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
    claimEvent: async () => true,
  };
}

function shown(action: Action): PreviewedAction {
  return {
    kind: action.kind,
    entity: action.entity,
    reason: action.reason,
    destructive: action.destructive === true,
    ...(action.item ? { item: action.item } : {}),
  };
}

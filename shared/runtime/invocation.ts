/*
 * The function contract. A request from either platform is classified into an Invocation; the
 * function's options are validated against its own schema; `handle` turns the invocation into a
 * RunResult. Nothing here knows about HTTP, OpenFaaS or Knative, and the context a function needs
 * (database, clients, logger) is a type parameter so the runtime never depends on concrete deps.
 */
import { z } from 'zod';
import type { ZodType } from 'zod';
import type { EventType } from '../events/types.js';
import type { ParsedEvent } from '../events/parse.js';
import { typesConsumedBy } from '../events/routing.js';

import type { FunctionName } from '../function-names.js';

export { FUNCTION_NAMES } from '../function-names.js';
export type { FunctionName } from '../function-names.js';

export type ScheduleSource = 'cron-connector' | 'pingsource';
export type TriggerKind = Invocation['kind'];

/** The most items one run may be asked to handle (MAX_ITEMS has the same ceiling). */
export const MAX_ITEMS_LIMIT = 10_000;

/** Options every function accepts on every trigger (SPEC section 2). Unknown fields are errors. */
export const baseOptionsSchema = z.strictObject({
  dryRun: z.boolean().default(false),
  maxItems: z
    .int({ error: 'must be a whole number' })
    .positive('must be greater than 0')
    .max(MAX_ITEMS_LIMIT, `must be at most ${MAX_ITEMS_LIMIT}`)
    .optional(),
});
export type BaseOptions = z.output<typeof baseOptionsSchema>;

/**
 * `options` is raw JSON (`unknown`) straight out of the classifier and the function's parsed
 * options after `resolveOptions`. Events carry no options of their own: they get the defaults.
 */
export type Invocation<Options = unknown> =
  | { kind: 'schedule'; source: ScheduleSource; callId: string; options: Options; traceparent?: string }
  | { kind: 'manual'; callId: string; options: Options; traceparent?: string; caller?: string }
  | { kind: 'event'; callId: string; event: ParsedEvent; options: Options };

/** halted: a safety rail (shared/runtime/rails) withheld the run's destructive actions. */
export type RunOutcome = 'succeeded' | 'failed' | 'skipped' | 'accepted' | 'halted';

type JsonScalar = string | number | boolean | null;

export interface RunResult {
  outcome: RunOutcome;
  /** Counts by name, e.g. { expired: 2, skippedNullExpiry: 1 }. */
  summary: Record<string, number>;
  message?: string;
  /** The runs-table id, so an operator can find the run's decisions. */
  runId?: string;
  /** What a dry run would do, one flat record per entity (ids masked by the function). */
  items?: Record<string, JsonScalar>[];
  /**
   * An event run that a safety rail halted before the event was recorded in the function's inbox:
   * the event is not acknowledged (HTTP 503), so the platform delivers it again.
   */
  eventHeld?: true;
}

export interface FunctionDefinition<Options extends BaseOptions = BaseOptions, Context = unknown> {
  name: FunctionName;
  /** Must be strict (extend `baseOptionsSchema`) so a misspelt option is a 400, not ignored. */
  optionsSchema: ZodType<Options, unknown>;
  /** The event types this function accepts; anything else is answered 400. */
  consumes: readonly EventType[];
  handle(invocation: Invocation<Options>, ctx: Context): Promise<RunResult>;
}

/**
 * The low-level definition the run kernel wraps (shared/runtime/define-function.ts: a function is
 * its `defineFunction`; no function uses this directly). Its consumed types come from the one
 * routing table, so a function can never accept an event the Triggers and the gateway would not
 * route to it.
 */
export function defineHandler<Options extends BaseOptions, Context>(
  definition: Omit<FunctionDefinition<Options, Context>, 'consumes'>,
): FunctionDefinition<Options, Context> {
  return { ...definition, consumes: typesConsumedBy(definition.name) };
}

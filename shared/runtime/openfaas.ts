/*
 * The `handle(event, context)` export for the unmodified OpenFaaS node22 template
 * (template/node22/index.js). The template answers a thrown error
 * with HTTP 200 and drops our headers on `context.fail`, so this adapter never throws and always
 * answers through `status().headers().succeed()`.
 *
 * `event.body` is a Buffer with RAW_BODY=true (the setting stack.yml uses), a string for text/*,
 * the parsed JSON for application/json and binary CloudEvents, and undefined when body-parser
 * skipped it (a structured CloudEvent without RAW_BODY: the classifier then explains the fix).
 */
import type { BaseOptions, FunctionDefinition } from './invocation.js';
import { createEndpoint } from './endpoint.js';
import type { ContextFactory, RuntimeOptions } from './endpoint.js';
import { answerError } from './problem.js';
import type { HttpAnswer } from './problem.js';

export interface OpenFaasEvent {
  body?: unknown;
  headers: Record<string, string | string[] | undefined>;
  method: string;
  path: string;
  query?: unknown;
}

export interface OpenFaasContext {
  status(code: number): OpenFaasContext;
  headers(values: Record<string, string>): OpenFaasContext;
  succeed(value: string): void;
}

export type OpenFaasHandler = (event: OpenFaasEvent, context: OpenFaasContext) => Promise<void>;

export function openfaasHandler<Options extends BaseOptions, Context>(
  fn: FunctionDefinition<Options, Context>,
  contextFor: ContextFactory<Options, Context>,
  options: RuntimeOptions,
): OpenFaasHandler {
  const endpoint = createEndpoint(fn, contextFor, options);
  return async (event, context) => {
    let answer: HttpAnswer;
    try {
      answer = await endpoint({
        method: event.method,
        path: event.path,
        headers: event.headers,
        rawBody: rawBodyOf(event.body),
      });
    } catch (err) {
      options.logger.error({ err, fn: fn.name }, 'adapter failed');
      answer = answerError(err);
    }
    context.status(answer.status).headers(answer.headers).succeed(answer.body);
  };
}

function rawBodyOf(body: unknown): Buffer | string {
  if (body === undefined || body === null) return '';
  if (Buffer.isBuffer(body) || typeof body === 'string') return body;
  // body-parser already parsed JSON; serialise it back so the classifier sees one format.
  return JSON.stringify(body);
}

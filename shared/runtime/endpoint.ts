/*
 * The one request path behind both adapters: classify, validate the options, call the function,
 * answer. It never throws; every failure becomes an HttpAnswer (the OpenFaaS template would turn
 * a throw into HTTP 200).
 */
import type { Logger } from 'pino';
import { Invalid } from '../errors.js';
import { DEAD_LETTER_PATH } from './dead-letter-sink.js';
import { classify } from './classify.js';
import type { BaseOptions, FunctionDefinition, Invocation, RunResult, TriggerKind } from './invocation.js';
import { invalidFrom, zodIssues } from '../issues.js';
import type { Metrics } from './metrics.js';
import { answerError, answerResult, methodNotAllowed } from './problem.js';
import type { HttpAnswer } from './problem.js';
import { serveGet } from './probes.js';
import { normalizeHeaders } from './request.js';
import type { RawRequest } from './request.js';

export interface RuntimeOptions {
  metrics: Metrics;
  logger: Logger;
  bodyLimitBytes: number;
  /** Serves POST /dead-letters (the Knative dead-letter sink) when set. */
  deadLetterSink?: Endpoint;
}

/** Builds what `handle` needs for one invocation (the lead's Deps plus a run logger, say). */
export type ContextFactory<Options, Context> = (invocation: Invocation<Options>) => Context | Promise<Context>;

export type Endpoint = (request: RawRequest) => Promise<HttpAnswer>;

/**
 * Routes a function serves itself besides invocations (extend's action links and Slack endpoint):
 * an answer, or undefined when the request is not one of them. It gets its context on demand.
 */
export type OwnRoutes<Context> = (
  request: RawRequest,
  context: () => Promise<Context>,
) => Promise<HttpAnswer | undefined>;

const OUTCOMES: ReadonlySet<string> = new Set(['succeeded', 'failed', 'skipped', 'accepted', 'halted']);

export function createEndpoint<Options extends BaseOptions, Context>(
  fn: FunctionDefinition<Options, Context> & { routes?: OwnRoutes<Context> },
  contextFor: ContextFactory<Options, Context>,
  options: RuntimeOptions,
): Endpoint {
  const invoke = invoker(fn, contextFor, options);
  const own = fn.routes && ownRoutes(fn.routes, contextFor, options.logger);
  return async (request) => {
    const answer = own && (await own(request));
    if (answer) return answer;
    const method = request.method.toUpperCase();
    if (method === 'GET') return serveGet(request.path, fn.name, options.metrics);
    if (method !== 'POST') return methodNotAllowed();
    if (request.path === DEAD_LETTER_PATH && options.deadLetterSink) return options.deadLetterSink(request);
    return withoutReplyBody(request, await invoke(request));
  };
}

function ownRoutes<Options extends BaseOptions, Context>(
  routes: OwnRoutes<Context>,
  contextFor: ContextFactory<Options, Context>,
  logger: Logger,
) {
  // The context factories ignore the invocation; a route's work records its own runs.
  const context = async () => contextFor({ kind: 'manual', callId: 'route', options: { dryRun: false } as Options });
  return async (request: RawRequest): Promise<HttpAnswer | undefined> => {
    try {
      return await routes(request, context);
    } catch (err) {
      logger.error({ err, path: request.path.replace(/\/a\/.*/, '/a/…') }, 'route failed');
      return answerError(err);
    }
  };
}

/**
 * A Knative Broker or Channel sends `Prefer: reply` and takes a 2xx answer's body as a reply
 * event: anything that is not a CloudEvent fails the delivery (502, retried, then dead-lettered).
 * So those callers get the status alone; the run's summary is in the log and the runs table.
 */
function withoutReplyBody(request: RawRequest, answer: HttpAnswer): HttpAnswer {
  const prefer = normalizeHeaders(request.headers).prefer ?? '';
  if (answer.status >= 300 || !/(^|,)\s*reply\s*(,|;|$)/i.test(prefer)) return answer;
  const { 'content-type': _type, ...headers } = answer.headers;
  return { ...answer, headers, body: '' };
}

function invoker<Options extends BaseOptions, Context>(
  fn: FunctionDefinition<Options, Context>,
  contextFor: ContextFactory<Options, Context>,
  { metrics, logger, bodyLimitBytes }: RuntimeOptions,
): Endpoint {
  return async (request) => {
    const stopTimer = metrics.runDurationSeconds.startTimer({ function: fn.name });
    const count = (trigger: TriggerKind | 'unknown', outcome: string) => {
      metrics.runs.inc({ function: fn.name, trigger, outcome });
      stopTimer({ trigger });
    };
    let invocation: Invocation<Options>;
    try {
      invocation = resolveOptions(fn, classify(request, { bodyLimitBytes }));
    } catch (err) {
      count('unknown', 'invalid');
      logger.warn({ err, fn: fn.name, path: request.path }, 'request rejected');
      return answerError(err);
    }
    const meta = { fn: fn.name, trigger: invocation.kind, callId: invocation.callId };
    try {
      const result = checkResult(await fn.handle(invocation, await contextFor(invocation)));
      count(invocation.kind, result.outcome);
      return answerResult(result, meta);
    } catch (err) {
      count(invocation.kind, err instanceof Invalid ? 'invalid' : 'error');
      logger.error({ err, ...meta }, 'run did not complete');
      return answerError(err, meta.callId);
    }
  };
}

/** Parse the raw options with the function's schema, and refuse events it does not consume. */
function resolveOptions<Options extends BaseOptions, Context>(
  fn: FunctionDefinition<Options, Context>,
  invocation: Invocation,
): Invocation<Options> {
  if (invocation.kind === 'event' && !fn.consumes.includes(invocation.event.type)) {
    throw new Invalid(`${fn.name} does not consume this event type`, [
      { field: 'type', message: `not consumed by ${fn.name}` },
    ]);
  }
  const parsed = fn.optionsSchema.safeParse(invocation.options);
  if (!parsed.success) {
    const root = invocation.kind === 'schedule' && invocation.source === 'pingsource' ? 'data' : 'body';
    throw invalidFrom('invalid options', zodIssues(parsed.error, '', root));
  }
  return { ...invocation, options: parsed.data };
}

/** A function that resolves with something other than a RunResult is a defect, not a success. */
function checkResult(result: RunResult): RunResult {
  if (typeof result !== 'object' || result === null || !OUTCOMES.has(result.outcome)) {
    throw new TypeError('handle() resolved without a valid RunResult');
  }
  return result;
}

/*
 * The local stack's gateway: the OpenFaaS routes on 127.0.0.1, so `faas-cli invoke --gateway
 * http://127.0.0.1:8080 <fn>` and curl work as against a real gateway. /function/<fn> answers
 * with the function's own answer; /async-function/<fn> answers 202 at once and runs the function
 * in the background, as the gateway's queue does. Every method is forwarded, as a real gateway
 * does; `<fn>.<namespace>` and `?namespace=` name the one namespace served. /system/* is in
 * gateway-system.ts.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Endpoint } from '../shared/runtime/endpoint.js';
import { readBody, send } from '../shared/runtime/http-server.js';
import type { Metrics } from '../shared/runtime/metrics.js';
import { jsonAnswer, tooLarge } from '../shared/runtime/problem.js';
import type { HttpAnswer } from '../shared/runtime/problem.js';
import { FUNCTION_NAMESPACE, systemRoute, text } from './gateway-system.js';
import type { StackFunction } from './stack-functions.js';

export interface GatewayFunction {
  name: string;
  endpoint: Endpoint;
  /** What /system/* reports about it (stack.yml's entry); a bare entry when absent. */
  stack?: StackFunction;
  schedule?: string;
}

export interface GatewayOptions {
  functions: GatewayFunction[];
  bodyLimitBytes: number;
  log: Logger;
  metrics: Metrics;
}

export interface Gateway {
  listener: RequestListener;
  /** Wait for background (async) invocations to finish, for a clean shutdown. */
  drain(): Promise<void>;
  invocationCounts: Map<string, number>;
}

const FUNCTION_ROUTE = /^\/(function|async-function)\/([a-z0-9-]+)(?:\.([a-z0-9-]+))?(\/.*)?$/;

export function createGateway(options: GatewayOptions): Gateway {
  const byName = new Map(options.functions.map((fn) => [fn.name, fn]));
  const counts = new Map(options.functions.map((fn) => [fn.name, 0]));
  const background = new Set<Promise<void>>();
  const systemFunctions = options.functions.map((fn) => ({
    stack: fn.stack ?? bareEntry(fn.name),
    ...(fn.schedule !== undefined && { schedule: fn.schedule }),
  }));

  const route = async (req: IncomingMessage): Promise<HttpAnswer> => {
    const url = new URL(req.url ?? '/', 'http://gateway');
    if (url.pathname === '/healthz') return jsonAnswer(200, { status: 'ok' });
    if (url.pathname === '/metrics') return metricsAnswer(options.metrics);
    const system = systemRoute(url, systemFunctions, counts);
    if (system) return system;
    const match = FUNCTION_ROUTE.exec(url.pathname);
    if (!match)
      return text(
        404,
        'not found: the gateway serves /function/<name>, /async-function/<name>, /system/*, /healthz and /metrics',
      );
    const namespace = match[3] ?? (url.searchParams.get('namespace') || FUNCTION_NAMESPACE);
    const fn = namespace === FUNCTION_NAMESPACE ? byName.get(match[2]!) : undefined;
    if (!fn) return text(404, `no function named ${match[2]!} in namespace ${namespace}`);
    const body = await readBody(req, options.bodyLimitBytes);
    if (body === undefined) return tooLarge(options.bodyLimitBytes);
    const headers = { ...req.headers, 'x-call-id': String(req.headers['x-call-id'] ?? randomUUID()) };
    const request = { method: req.method ?? 'GET', path: match[4] ?? '/', headers, rawBody: body };
    counts.set(fn.name, (counts.get(fn.name) ?? 0) + 1);
    if (match[1] === 'function') return fn.endpoint(request);
    const run = fn.endpoint(request).then(
      (answer) => logAsync(options.log, fn.name, headers['x-call-id'], answer),
      (err: unknown) => options.log.error({ err, fn: fn.name }, 'async invocation failed'),
    );
    background.add(run);
    void run.finally(() => background.delete(run));
    return { status: 202, headers: { 'x-call-id': headers['x-call-id'], 'content-type': 'text/plain' }, body: '' };
  };

  const listener: RequestListener = (req: IncomingMessage, res: ServerResponse) => {
    route(req)
      .catch((err: unknown) => {
        options.log.error({ err }, 'gateway could not route the request');
        return jsonAnswer(500, { title: 'gateway error' });
      })
      .then((answer) => send(res, answer))
      .catch((err: unknown) => options.log.error({ err }, 'gateway could not answer'));
  };
  return { listener, drain: async () => void (await Promise.allSettled([...background])), invocationCounts: counts };
}

function bareEntry(name: string): StackFunction {
  return { name, image: `local/${name}`, labels: {}, annotations: {}, secrets: [], readOnlyRootFilesystem: false };
}

async function metricsAnswer(metrics: Metrics): Promise<HttpAnswer> {
  return {
    status: 200,
    headers: { 'content-type': metrics.registry.contentType },
    body: await metrics.registry.metrics(),
  };
}

function logAsync(log: Logger, fn: string, callId: string, answer: HttpAnswer): void {
  const level = answer.status >= 500 ? 'error' : answer.status >= 400 ? 'warn' : 'info';
  log[level]({ fn, callId, status: answer.status }, 'async invocation finished');
}

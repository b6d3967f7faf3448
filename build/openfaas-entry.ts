/*
 * The composition root of one bundled function (dist/openfaas/<fn>/handler.js): what the node22
 * template's index.js requires at start-up. Configuration is parsed here, once, when the module
 * loads, so a bad setting stops the process at start-up with one message naming every variable,
 * instead of failing each request later. The same image runs on OpenFaaS and on Knative.
 *
 * Start-up is mostly parsing, so the start path is the settings, the logger, the metrics and the
 * health and metrics answers. The request path (the clients with pg, classifying a request, the
 * function's own code, the run kernel, CloudEvents, the dead-letter sink) is a chunk read on the
 * first request that needs it: health checks never wait for it, and the first run parses what it
 * runs, as it did at start-up before.
 */
import { z } from 'zod';
import { loadConfig, processEnvironment } from '../shared/config.js';
import type { Config } from '../shared/config.js';
import type { Deps } from '../shared/deps.js';
import type { FunctionName } from '../shared/function-names.js';
import { createLogger } from '../shared/log.js';
import type { Logger } from '../shared/log.js';
import type { BaseOptions, FunctionDefinition } from '../shared/runtime/invocation.js';
import { createMetrics } from '../shared/runtime/metrics.js';
import type { Metrics } from '../shared/runtime/metrics.js';
import type { OpenFaasContext, OpenFaasHandler } from '../shared/runtime/openfaas.js';
import { isProbe, serveGet } from '../shared/runtime/probes.js';
import { answerError } from '../shared/runtime/problem.js';
import type { HttpAnswer } from '../shared/runtime/problem.js';

/** The function's definition, from a chunk of its own (`import()` in the generated entry). */
export type FunctionLoader = () => Promise<FunctionDefinition<BaseOptions, Deps>>;

export function openfaasEntry(name: FunctionName, load: FunctionLoader): OpenFaasHandler {
  // zod compiles a fast path for each object schema on its first parse: several milliseconds each,
  // repaid only over many parses. A function parses its settings once and a few requests per run.
  z.config({ jitless: true });
  const config = loadConfig(processEnvironment());
  const log = createLogger({ level: config.logLevel, hashSalt: config.logHashSalt });
  const metrics = createMetrics();
  log.info({ fn: name, events: config.events.mode }, 'function loaded');
  let requestPath: Promise<OpenFaasHandler> | undefined;
  const loaded = () => {
    requestPath ??= loadRequestPath(load, config, { log, metrics }).catch((err: unknown) => {
      // A chunk that failed to load is tried again on the next request.
      requestPath = undefined;
      throw err;
    });
    return requestPath;
  };
  return async (event, context) => {
    if (isProbe(event.method, event.path)) return answer(context, await serveGet(event.path, name, metrics));
    let handler: OpenFaasHandler;
    try {
      handler = await loaded();
    } catch (err) {
      log.error({ err, fn: name }, 'request path failed to load');
      return answer(context, answerError(err));
    }
    await handler(event, context);
  };
}

/** The clients (pg among them), the function, and the request path around it. */
async function loadRequestPath(
  load: FunctionLoader,
  config: Config,
  started: { log: Logger; metrics: Metrics },
): Promise<OpenFaasHandler> {
  const [fn, { makeDeps }, { openfaasHandler }, { deadLetterSink }] = await Promise.all([
    load(),
    import('../shared/deps.js'),
    import('../shared/runtime/openfaas.js'),
    import('../shared/runtime/dead-letter-sink.js'),
  ]);
  const deps = makeDeps(config, started);
  const deadLetters = deadLetterSink({ db: deps.pool, metrics: deps.metrics, now: () => deps.clock.now() });
  return openfaasHandler(fn, () => deps, {
    metrics: deps.metrics,
    logger: deps.log,
    bodyLimitBytes: config.events.bodyLimitBytes,
    deadLetterSink: deadLetters,
  });
}

function answer(context: OpenFaasContext, { status, headers, body }: HttpAnswer): void {
  context.status(status).headers(headers).succeed(body);
}

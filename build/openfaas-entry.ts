/*
 * The composition root of one bundled function (dist/openfaas/<fn>/handler.js): what the node22
 * template's index.js requires at start-up. Configuration is parsed here, once, when the module
 * loads, so a bad setting stops the process at start-up with one message naming every variable,
 * instead of failing each request later. The same image runs on OpenFaaS and on Knative.
 */
import { loadConfig, processEnvironment } from '../shared/config.js';
import { makeDeps } from '../shared/deps.js';
import type { Deps } from '../shared/deps.js';
import { deadLetterSink } from '../shared/events/dead-letter-sink.js';
import type { BaseOptions, FunctionDefinition } from '../shared/runtime/invocation.js';
import { openfaasHandler } from '../shared/runtime/openfaas.js';
import type { OpenFaasHandler } from '../shared/runtime/openfaas.js';

export function openfaasEntry(fn: FunctionDefinition<BaseOptions, Deps>): OpenFaasHandler {
  const config = loadConfig(processEnvironment());
  const deps = makeDeps(config);
  deps.log.info({ fn: fn.name, events: config.events.mode }, 'function loaded');
  const deadLetters = deadLetterSink({ db: deps.pool, metrics: deps.metrics, now: () => deps.clock.now() });
  return openfaasHandler(fn, () => deps, { metrics: deps.metrics, logger: deps.log, bodyLimitBytes: config.events.bodyLimitBytes, deadLetterSink: deadLetters });
}

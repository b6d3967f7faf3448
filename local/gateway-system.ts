/*
 * The gateway's /system routes as faas-netes (CE) answers them, for the real tools: the
 * cron-connector lists /system/namespaces and then /system/functions?namespace=<ns>; `faas-cli
 * describe` reads /system/function/<name>?namespace=<ns>; `faas-cli version` reads /system/info.
 * CE serves one namespace; asking for another is a 400, as faas-netes answers.
 */
import { jsonAnswer } from '../shared/runtime/problem.js';
import type { HttpAnswer } from '../shared/runtime/problem.js';
import type { StackFunction } from './stack-functions.js';

export const FUNCTION_NAMESPACE = 'openfaas-fn';

export interface SystemFunction {
  stack: StackFunction;
  /** The schedule served in the cron-connector's annotation (stack.yml's, or the stack's override). */
  schedule?: string;
}

export function systemRoute(
  url: URL,
  functions: SystemFunction[],
  counts: Map<string, number>,
): HttpAnswer | undefined {
  if (url.pathname === '/system/info') return jsonAnswer(200, INFO);
  if (url.pathname === '/system/namespaces') return jsonAnswer(200, [FUNCTION_NAMESPACE]);
  if (!url.pathname.startsWith('/system/function')) return undefined;
  const namespace = url.searchParams.get('namespace') || FUNCTION_NAMESPACE;
  if (namespace !== FUNCTION_NAMESPACE) return text(400, `namespace must be: ${FUNCTION_NAMESPACE}`);
  if (url.pathname === '/system/functions')
    return jsonAnswer(
      200,
      functions.map((fn) => status(fn, counts)),
    );
  const name = /^\/system\/function\/([^/]+)$/.exec(url.pathname)?.[1];
  const fn = functions.find((candidate) => candidate.stack.name === name);
  return fn
    ? jsonAnswer(200, status(fn, counts))
    : text(404, `no function named ${name ?? ''} in namespace ${FUNCTION_NAMESPACE}`);
}

const INFO = {
  provider: {
    provider: 'devenv-lifecycle local stack',
    orchestration: 'local',
    version: { release: 'local', sha: 'local' },
  },
  version: { release: 'local', sha: 'local', commit_message: 'devenv-lifecycle local gateway' },
  arch: process.arch === 'x64' ? 'x86_64' : process.arch,
};

/** faas-provider's FunctionStatus, as faas-netes fills it from the Deployment. */
function status({ stack, schedule }: SystemFunction, counts: Map<string, number>) {
  const annotations = { ...stack.annotations, ...(schedule !== undefined && { topic: 'cron-function', schedule }) };
  return {
    name: stack.name,
    image: stack.image,
    namespace: FUNCTION_NAMESPACE,
    labels: stack.labels,
    annotations,
    secrets: stack.secrets,
    ...(stack.limits && { limits: stack.limits }),
    ...(stack.requests && { requests: stack.requests }),
    readOnlyRootFilesystem: stack.readOnlyRootFilesystem,
    invocationCount: counts.get(stack.name) ?? 0,
    replicas: 1,
    availableReplicas: 1,
  };
}

export function text(status: number, body: string): HttpAnswer {
  return { status, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: `${body}\n` };
}

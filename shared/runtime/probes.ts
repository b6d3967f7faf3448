/*
 * GET /healthz and GET /metrics: what a platform asks a function before (and between) its runs.
 * Kept apart from the request path (endpoint.ts) so that a bundle can answer them before it has
 * loaded its function's code (build/openfaas-entry.ts).
 */
import type { Metrics } from './metrics.js';
import { jsonAnswer, notFound } from './problem.js';
import type { HttpAnswer } from './problem.js';

export function isProbe(method: string, path: string): boolean {
  return method.toUpperCase() === 'GET' && (path === '/healthz' || path === '/metrics');
}

/** The answer to a GET: health, the metrics, or 404 for any other path. */
export async function serveGet(path: string, name: string, metrics: Metrics): Promise<HttpAnswer> {
  if (path === '/healthz') return jsonAnswer(200, { status: 'ok', function: name });
  if (path !== '/metrics') return notFound();
  return {
    status: 200,
    headers: { 'content-type': metrics.registry.contentType },
    body: await metrics.registry.metrics(),
  };
}

/*
 * A plain node:http listener serving one function (Knative: one function per service, POST /),
 * plus GET /healthz and GET /metrics. Same endpoint as the OpenFaaS adapter. The body is read
 * with a limit: a larger one is answered 413 as soon as it is known to be too large, without
 * buffering the rest.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { createEndpoint } from './endpoint.js';
import type { ContextFactory, RuntimeOptions } from './endpoint.js';
import type { BaseOptions, FunctionDefinition } from './invocation.js';
import { answerError, tooLarge } from './problem.js';
import type { HttpAnswer } from './problem.js';

export function createRequestListener<Options extends BaseOptions, Context>(
  fn: FunctionDefinition<Options, Context>,
  contextFor: ContextFactory<Options, Context>,
  options: RuntimeOptions,
): RequestListener {
  const endpoint = createEndpoint(fn, contextFor, options);
  const serve = async (req: IncomingMessage): Promise<HttpAnswer> => {
    const body = await readBody(req, options.bodyLimitBytes);
    if (body === undefined) return tooLarge(options.bodyLimitBytes);
    const path = new URL(req.url ?? '/', 'http://function').pathname;
    return endpoint({ method: req.method ?? 'GET', path, headers: req.headers, rawBody: body });
  };
  return (req, res) => {
    serve(req)
      .catch((err: unknown) => {
        options.logger.error({ err, fn: fn.name }, 'request failed before reaching the function');
        return answerError(err);
      })
      .then((answer) => send(res, answer))
      .catch((err: unknown) => options.logger.error({ err, fn: fn.name }, 'could not send the answer'));
  };
}

/** The whole body, or undefined once it is known to exceed the limit (the rest is discarded). */
export function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limitBytes) return Promise.resolve(discard(req));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received <= limitBytes) {
        chunks.push(chunk);
        return;
      }
      req.off('data', onData);
      resolve(discard(req));
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

function discard(req: IncomingMessage): undefined {
  req.resume();
  return undefined;
}

export function send(res: ServerResponse, answer: HttpAnswer): void {
  res.writeHead(answer.status, { ...answer.headers, 'content-length': Buffer.byteLength(answer.body) });
  res.end(answer.body);
}

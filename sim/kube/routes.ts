/*
 * Request routing for the Kubernetes API: discovery documents, then
 * /api/v1/… and /apis/networking.k8s.io/v1/… paths to get, list, watch, create, replace, patch,
 * delete and deletecollection. Errors are v1 Status bodies; every answer is application/json.
 */
import type http from 'node:http';
import type { KubeContext, Target } from './context.js';
import { discoveryDocument } from './discovery.js';
import { getObject, listObjects } from './read.js';
import { resourceType } from './resources.js';
import { queryFlag } from './query.js';
import { tableOf, wantsTable } from './table.js';
import type { KubeObject } from './store.js';
import { apiVersionOf } from './resources.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import { KubeApiError, badRequest, sendJson, sendStatus, statusBody, unknownPath } from './status.js';
import { serveWatch } from './watch.js';
import { createObject, deleteCollection, deleteObject, patchObject, replaceObject } from './write.js';

const prefixes: [string, string][] = [
  ['/api/v1/', ''],
  ['/apis/networking.k8s.io/v1/', 'networking.k8s.io'],
];

/** The resource a path names, or undefined for a path the server does not serve. */
export function parseTarget(pathname: string): Target | undefined {
  const prefix = prefixes.find(([p]) => pathname.startsWith(p));
  if (!prefix) return undefined;
  let parts: string[];
  try {
    parts = pathname.slice(prefix[0].length).split('/').map(decodeURIComponent);
  } catch {
    return undefined; // a malformed %-escape names nothing
  }
  if (parts.some((part) => part === '')) return undefined;
  const scoped = parts[0] === 'namespaces' && parts.length >= 3;
  const [plural, name, subresource, ...extra] = scoped ? parts.slice(2) : parts;
  const type = resourceType(prefix[1], plural!);
  // A namespaced type is also listed and watched across all namespaces, at /api/v1/pods.
  const allNamespaces = type?.namespaced && !scoped && name === undefined;
  if (!type || extra.length > 0 || (type.namespaced !== scoped && !allNamespaces)) return undefined;
  if (!scoped && subresource !== undefined) return undefined;
  return {
    type,
    ...(scoped && { namespace: parts[1] }),
    ...(name !== undefined && { name }),
    ...(subresource !== undefined && { subresource }),
  };
}

function parseBody(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw badRequest('the body of the request was in an unknown format: it is not valid JSON');
  }
}

function isWatch(query: URLSearchParams): boolean {
  return queryFlag(query, 'watch');
}

function watch(ctx: KubeContext, target: Target, x: Exchange): void {
  const { query, res } = x;
  const dropAfterMs = x.dropWatchAfterMs;
  const timeout = Number(query.get('timeoutSeconds') ?? 0);
  let first = true;
  const asTable = (object: KubeObject) => {
    const table = tableOf([object], {
      plural: target.type.plural,
      now: ctx.clock.now(),
      includeObject: query.get('includeObject'),
      noHeaders: !first,
    });
    first = false;
    return table;
  };
  serveWatch(
    ctx.store,
    {
      type: target.type,
      ...(target.namespace !== undefined && { namespace: target.namespace }),
      labels: parseLabelSelector(query.get('labelSelector')),
      fields: parseFieldSelector(query.get('fieldSelector'), target.type.fields),
      resourceVersion: query.get('resourceVersion'),
      ...(timeout > 0 && { timeoutSeconds: timeout }),
      bookmarks: queryFlag(query, 'allowWatchBookmarks'),
      ...(dropAfterMs !== undefined && { dropAfterMs }),
      ...(wantsTable(x.req.headers.accept) && { render: asTable }),
    },
    res,
  );
}

/** A list or one object, as a Table when the client asked for one (kubectl get). */
function readAnswer(
  ctx: KubeContext,
  target: Target,
  x: Exchange,
  objects: KubeObject[],
  listMetadata?: Record<string, unknown>,
): object {
  return tableOf(objects, {
    plural: target.type.plural,
    now: ctx.clock.now(),
    includeObject: x.query.get('includeObject'),
    ...(listMetadata && { listMetadata }),
  });
}

interface Exchange {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  query: URLSearchParams;
  body: Buffer;
  dropWatchAfterMs?: number;
}

function listAnswer(ctx: KubeContext, target: Target, x: Exchange): object {
  const list = listObjects(ctx, target, x.query) as {
    metadata: Record<string, unknown>;
    items: Omit<KubeObject, 'kind' | 'apiVersion'>[];
  };
  if (!wantsTable(x.req.headers.accept)) return list;
  const objects = list.items.map(
    (item) => ({ ...item, kind: target.type.kind, apiVersion: apiVersionOf(target.type) }) as KubeObject,
  );
  return readAnswer(ctx, target, x, objects, list.metadata);
}

function methodNotAllowed(method: string): KubeApiError {
  return new KubeApiError(
    statusBody(405, `the server does not allow this method on the requested resource (${method})`, 'MethodNotAllowed'),
  );
}

/**
 * `dryRun=All` runs the write with every check and answers what it would have done, changing
 * nothing (API concepts, "Dry-run"); any other value is refused, as ValidateDryRun does.
 */
function writing<T>(ctx: KubeContext, x: Exchange, write: () => T): T {
  const modes = x.query.getAll('dryRun');
  const bad = modes.find((mode) => mode !== 'All');
  if (bad !== undefined) {
    const options =
      x.req.method === 'POST'
        ? 'CreateOptions'
        : x.req.method === 'DELETE'
          ? 'DeleteOptions'
          : x.req.method === 'PATCH'
            ? 'PatchOptions'
            : 'UpdateOptions';
    const message = `${options}.meta.k8s.io "" is invalid: dryRun: Unsupported value: "${bad}": supported values: "All"`;
    throw new KubeApiError(
      statusBody(422, message, 'Invalid', {
        kind: options,
        group: 'meta.k8s.io',
        causes: [{ reason: 'FieldValueNotSupported', message, field: 'dryRun' }],
      }),
    );
  }
  return modes.length > 0 ? ctx.store.dryRun(write) : write();
}

function onCollection(ctx: KubeContext, target: Target, x: Exchange): void {
  if (target.type.namespaced && target.namespace === undefined && x.req.method !== 'GET')
    throw methodNotAllowed(x.req.method ?? '');
  switch (x.req.method) {
    case 'GET':
      if (isWatch(x.query)) return watch(ctx, target, x);
      return sendJson(x.res, 200, listAnswer(ctx, target, x));
    case 'POST':
      return sendJson(
        x.res,
        201,
        writing(ctx, x, () => createObject(ctx, target, parseBody(x.body))),
      );
    case 'DELETE':
      return sendJson(
        x.res,
        200,
        writing(ctx, x, () => deleteCollection(ctx, target, x.query, parseBody(x.body))),
      );
    default:
      throw methodNotAllowed(x.req.method ?? '');
  }
}

function onObject(ctx: KubeContext, target: Target, x: Exchange): void {
  if (target.subresource === 'exec') throw badRequest('Upgrade request required');
  if (target.subresource !== undefined) throw unknownPath();
  const current = getObject(ctx, target);
  switch (x.req.method) {
    case 'GET':
      return sendJson(x.res, 200, wantsTable(x.req.headers.accept) ? readAnswer(ctx, target, x, [current]) : current);
    case 'PUT':
      return sendJson(
        x.res,
        200,
        writing(ctx, x, () => replaceObject(ctx, target, current, parseBody(x.body))),
      );
    case 'PATCH':
      return sendJson(
        x.res,
        200,
        writing(ctx, x, () =>
          patchObject(ctx, target, current, parseBody(x.body), x.req.headers['content-type'] ?? ''),
        ),
      );
    case 'DELETE':
      return sendJson(
        x.res,
        200,
        writing(ctx, x, () => deleteObject(ctx, target, current, x.query, parseBody(x.body))),
      );
    default:
      throw methodNotAllowed(x.req.method ?? '');
  }
}

export function route(ctx: KubeContext, x: Exchange, serverAddress: string): void {
  const pathname = new URL(x.req.url ?? '/', 'http://sim').pathname.replace(/\/+$/, '') || '/';
  try {
    const document = x.req.method === 'GET' ? discoveryDocument(pathname, serverAddress) : undefined;
    if (document) return sendJson(x.res, 200, document);
    const target = parseTarget(pathname);
    if (!target) throw unknownPath();
    if (target.name === undefined) onCollection(ctx, target, x);
    else onObject(ctx, target, x);
  } catch (err) {
    if (!(err instanceof KubeApiError)) throw err;
    sendStatus(x.res, err.status);
  }
}

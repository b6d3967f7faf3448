/*
 * get and list (with selectors and paging). List items leave out kind and apiVersion, as the real
 * server's typed lists do; the list itself carries them.
 */
import type { KubeContext, Target } from './context.js';
import { paginate } from './paging.js';
import type { Listing } from './paging.js';
import { apiVersionOf } from './resources.js';
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from './selectors.js';
import type { KubeObject } from './store.js';
import { notFound } from './status.js';
import { objectKey } from './type-index.js';

/** Objects of the target's type (in its namespace, if any) that match the query's selectors. */
function matcher(target: Target, query: URLSearchParams): (object: KubeObject) => boolean {
  const labels = parseLabelSelector(query.get('labelSelector'));
  const fields = parseFieldSelector(query.get('fieldSelector'), target.type.fields);
  return (object) => matchesLabels(labels, object.metadata.labels) && matchesFields(fields, object);
}

/**
 * Where a list reads its matches from: a selector naming label values (`key in (…)`, `key=value`)
 * reads the objects carrying them from the label index, so it costs its matches; any other list
 * walks the sorted keys from the continue token on, so a page costs about a page.
 */
function listing(ctx: KubeContext, target: Target, query: URLSearchParams): Listing {
  const { plural } = target.type;
  const keep = matcher(target, query);
  const named = parseLabelSelector(query.get('labelSelector')).find((req) => req.op === 'in');
  const countAfter = (afterKey: string | undefined) => ctx.store.countAfter(plural, target.namespace, afterKey);
  if (named?.op === 'in') {
    const candidates = ctx.store.withLabel(plural, target.namespace, named.key, named.values);
    return {
      matchingAfter: (afterKey) =>
        candidates.filter(
          (object) =>
            (afterKey === undefined || objectKey(object.metadata.namespace, object.metadata.name) > afterKey) &&
            keep(object),
        ),
      countAfter,
    };
  }
  return {
    matchingAfter: function* (afterKey) {
      for (const object of ctx.store.objectsAfter(plural, target.namespace, afterKey)) if (keep(object)) yield object;
    },
    countAfter,
  };
}

export function select(ctx: KubeContext, target: Target, query: URLSearchParams): KubeObject[] {
  return [...listing(ctx, target, query).matchingAfter(undefined)].map((object) => structuredClone(object));
}

export function getObject(ctx: KubeContext, target: Target): KubeObject {
  const found = ctx.store.get(target.type.plural, target.namespace, target.name!);
  if (!found) throw notFound(target.type.plural, target.name!, target.type.group);
  return found;
}

function listItem(object: KubeObject): Omit<KubeObject, 'kind' | 'apiVersion'> {
  const { kind: _kind, apiVersion: _apiVersion, ...item } = object;
  return item;
}

export function listBody(
  target: Target,
  items: KubeObject[],
  resourceVersion: number,
  extra: Record<string, unknown> = {},
): object {
  return {
    kind: `${target.type.kind}List`,
    apiVersion: apiVersionOf(target.type),
    metadata: { resourceVersion: String(resourceVersion), ...extra },
    items: items.map(listItem),
  };
}

export function listObjects(ctx: KubeContext, target: Target, query: URLSearchParams): object {
  // Page first, copy after: a paged list of a large namespace copies one page, as a real server
  // reads one page from etcd.
  const page = paginate(
    listing(ctx, target, query),
    query,
    ctx.store.currentVersion(),
    ctx.store.oldestServableVersion(),
  );
  const unfiltered = !query.get('labelSelector') && !query.get('fieldSelector');
  const extra = page.continueToken
    ? { continue: page.continueToken, ...(unfiltered && { remainingItemCount: page.remaining }) }
    : {};
  return listBody(
    target,
    page.items.map((object) => structuredClone(object)),
    page.resourceVersion,
    extra,
  );
}

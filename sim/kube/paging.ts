/*
 * `limit`/`continue` paging. A continue token carries the resourceVersion of the first page and the
 * key of the last item served; every page reports that first version, so a client that watches
 * from it after the last page misses nothing that changed while it paged. A token older than the
 * retained history is refused with 410 Expired, as the real server does after a compaction.
 */
import type { KubeObject } from './store.js';
import { KubeApiError, badRequest, statusBody } from './status.js';

interface Cursor {
  rv: number;
  after: string;
}

export interface Page {
  items: readonly KubeObject[];
  resourceVersion: number;
  continueToken?: string;
  remaining: number;
}

function keyOf(object: KubeObject): string {
  return `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
}

function decode(token: string): Cursor {
  try {
    const cursor = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Partial<Cursor>;
    if (typeof cursor.rv === 'number' && typeof cursor.after === 'string') return { rv: cursor.rv, after: cursor.after };
  } catch {
    // fall through to the refusal below
  }
  throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
}

function parseLimit(text: string | null): number | undefined {
  if (text === null || text === '' || text === '0') return undefined;
  if (!/^\d+$/.test(text)) throw badRequest(`limit: Invalid value: "${text}"`);
  return Number(text);
}

/** One page of `sorted` (already filtered and in key order). */
export function paginate(sorted: readonly KubeObject[], query: URLSearchParams, currentRv: number, oldestRv: number): Page {
  const token = query.get('continue');
  const cursor = token ? decode(token) : undefined;
  if (cursor && cursor.rv < oldestRv) {
    throw new KubeApiError(statusBody(410, 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.', 'Expired'));
  }
  const rest = cursor ? sorted.filter((object) => keyOf(object) > cursor.after) : sorted;
  const limit = parseLimit(query.get('limit'));
  const items = limit === undefined ? rest : rest.slice(0, limit);
  const remaining = rest.length - items.length;
  const resourceVersion = cursor?.rv ?? currentRv;
  const last = items[items.length - 1];
  const continueToken = remaining > 0 && last
    ? Buffer.from(JSON.stringify({ rv: resourceVersion, after: keyOf(last) })).toString('base64url')
    : undefined;
  return { items, resourceVersion, remaining, ...(continueToken && { continueToken }) };
}

/*
 * `limit`/`continue` paging. A continue token carries the resourceVersion of the first page and the
 * key of the last item served; every page reports that first version, so a client that watches
 * from it after the last page misses nothing that changed while it paged. A page is read from the
 * sorted index onwards from that key, so it costs the page, not the namespace; the simulator serves
 * the current objects after the key (not a snapshot at the first page's version), so an object
 * present through the whole listing is listed exactly once.
 *
 * As the real server (etcd3 store): a page that fills its limit carries a continue token whenever
 * any object of the range follows it, matching the selector or not (so a selective listing can end
 * on an empty page), and `remainingItemCount` counts the objects after the page. A token older than
 * the retained history is refused with 410 Expired, and the refusal carries a token that resumes
 * from the same key at the current version (resourceVersion -1): the rest of an inconsistent list.
 */
import type { KubeObject } from './store.js';
import { KubeApiError, badRequest, statusBody } from './status.js';
import { objectKey } from './type-index.js';

interface Cursor {
  rv: number;
  after: string;
}

/** Where a list reads from: its matching objects after a key, and how many objects follow a key. */
export interface Listing {
  matchingAfter(afterKey: string | undefined): Iterable<KubeObject>;
  countAfter(afterKey: string | undefined): number;
}

export interface Page {
  items: KubeObject[];
  resourceVersion: number;
  continueToken?: string;
  /** Objects of the range after the page, matching or not. */
  remaining: number;
}

/** The resourceVersion of a token that resumes at the current version, as the server's -1. */
const LATEST = -1;

const inconsistentContinue =
  'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.';

const encode = (cursor: Cursor) => Buffer.from(JSON.stringify(cursor)).toString('base64url');

function decode(token: string): Cursor {
  try {
    const cursor = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Partial<Cursor>;
    if (typeof cursor.rv === 'number' && typeof cursor.after === 'string')
      return { rv: cursor.rv, after: cursor.after };
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

function expired(cursor: Cursor): KubeApiError {
  const status = statusBody(410, inconsistentContinue, 'Expired');
  return new KubeApiError({ ...status, metadata: { continue: encode({ rv: LATEST, after: cursor.after }) } });
}

/** One page of `listing`, from the query's continue token, at most its limit. */
export function paginate(listing: Listing, query: URLSearchParams, currentRv: number, oldestRv: number): Page {
  const token = query.get('continue');
  const cursor = token ? decode(token) : undefined;
  if (cursor && cursor.rv !== LATEST && cursor.rv < oldestRv) throw expired(cursor);
  const limit = parseLimit(query.get('limit'));
  const items: KubeObject[] = [];
  for (const object of listing.matchingAfter(cursor?.after)) {
    items.push(object);
    if (items.length === limit) break;
  }
  const last = items[items.length - 1];
  const remaining =
    last && items.length === limit ? listing.countAfter(objectKey(last.metadata.namespace, last.metadata.name)) : 0;
  const resourceVersion = cursor === undefined || cursor.rv === LATEST ? currentRv : cursor.rv;
  const continueToken =
    remaining > 0 && last
      ? encode({ rv: resourceVersion, after: objectKey(last.metadata.namespace, last.metadata.name) })
      : undefined;
  return { items, resourceVersion, remaining, ...(continueToken && { continueToken }) };
}

/*
 * MaxResults/NextToken paging. The token is a cursor (the last id returned), not an offset, so
 * deleting resources between pages (as a retention sweep does while it pages) neither skips nor
 * repeats anything — the property the real service's opaque tokens give callers.
 */
import { Ec2Error } from './ec2-error.js';
import type { Ec2Params } from './ec2-params.js';
import { maxResults } from './ec2-params.js';

export interface Page<T> {
  items: T[];
  nextToken?: string;
}

function decodeToken(token: string): string {
  const lastId = Buffer.from(token, 'base64url').toString('utf8');
  if (!/^(vol|snap)-[0-9a-f]+$/.test(lastId)) {
    throw new Ec2Error('InvalidPaginationToken', `Invalid pagination token: ${token}`);
  }
  return lastId;
}

/**
 * One page of `items` (already filtered) in id order.
 * @param range the service's documented MaxResults bounds for this action
 */
export function paginate<T>(
  items: T[],
  idOf: (item: T) => string,
  params: Ec2Params,
  range: [number, number],
): Page<T> {
  const token = params.get('NextToken');
  const after = token === undefined || token === '' ? undefined : decodeToken(token);
  // Only what is left after the cursor is sorted: a later page does not sort the earlier ones again.
  const remaining = (after === undefined ? [...items] : items.filter((item) => idOf(item) > after)).sort((a, b) =>
    idOf(a).localeCompare(idOf(b)),
  );
  const size = maxResults(params, range[0], range[1]) ?? remaining.length;
  const page = remaining.slice(0, size);
  const last = page.at(-1);
  if (remaining.length <= size || last === undefined) return { items: page };
  return { items: page, nextToken: Buffer.from(idOf(last), 'utf8').toString('base64url') };
}

/*
 * EC2 `Filter.N` semantics: filters are ANDed, the values of one filter are ORed, values may use
 * the `*` and `?` wildcards (`\*` for a literal star), and an unknown filter name is an error
 * rather than "matches nothing" (so a typo such as `tags:owner` fails loudly, as against AWS).
 */
import { Ec2Error } from './ec2-error.js';
import type { Ec2Filter } from './ec2-params.js';

/** For each supported filter name, the values a resource exposes to it. */
export type FilterFields<R> = Record<string, (resource: R) => string[]>;

/** `*` is any run of characters, `?` any one; a backslash makes the next character literal. */
function wildcard(pattern: string): RegExp {
  const source = pattern.replace(/\\(.)|([*?])|([^\\*?]+)/gs, (_m, escaped?: string, wild?: string, text?: string) => {
    if (wild !== undefined) return wild === '*' ? '.*' : '.';
    return (escaped ?? text ?? '').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  });
  return new RegExp(`^${source}$`, 's');
}

function fieldFor<R>(name: string, fields: FilterFields<R>, tagsOf: (resource: R) => Map<string, string>) {
  if (name.startsWith('tag:')) {
    const key = name.slice('tag:'.length);
    return (resource: R) => {
      const value = tagsOf(resource).get(key);
      return value === undefined ? [] : [value];
    };
  }
  if (name === 'tag-key') return (resource: R) => [...tagsOf(resource).keys()];
  const field = Object.hasOwn(fields, name) ? fields[name] : undefined;
  if (!field) throw new Ec2Error('InvalidParameterValue', `The filter '${name}' is invalid`);
  return field;
}

/** Returns a predicate for the given filters; throws InvalidParameterValue for an unknown filter. */
export function filterPredicate<R>(
  filters: Ec2Filter[],
  fields: FilterFields<R>,
  tagsOf: (resource: R) => Map<string, string>,
): (resource: R) => boolean {
  const checks = filters.map((filter) => {
    const field = fieldFor(filter.name, fields, tagsOf);
    const patterns = filter.values.map(wildcard);
    return (resource: R) => field(resource).some((value) => patterns.some((p) => p.test(value)));
  });
  return (resource) => checks.every((check) => check(resource));
}

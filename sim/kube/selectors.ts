/*
 * Label and field selectors as the API server parses them. A selector the real server would refuse
 * is refused here too (400), so a client that builds a wrong selector fails in tests, not in prod.
 */
import { badRequest } from './status.js';

type LabelRequirement =
  { op: 'exists' | 'notExists'; key: string } | { op: 'in' | 'notin'; key: string; values: string[] };

export type LabelSelector = LabelRequirement[];
type Labels = Record<string, string> | undefined;

const keyPattern = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const valuePattern = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** Splits on commas that are not inside `( … )`, as `in (a,b)` contains commas of its own. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

function checked(key: string, values: string[], term: string): void {
  if (!keyPattern.test(key) || key.length > 316)
    throw badRequest(`unable to parse requirement: invalid label key "${key}" in "${term}"`);
  for (const value of values) {
    if (!valuePattern.test(value) || value.length > 63)
      throw badRequest(`unable to parse requirement: invalid label value "${value}" in "${term}"`);
  }
}

function parseTerm(term: string): LabelRequirement {
  const set = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term);
  if (set) {
    const values = set[3]!.split(',').map((v) => v.trim());
    checked(set[1]!, values, term);
    return { op: set[2] as 'in' | 'notin', key: set[1]!, values };
  }
  const compare = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
  if (compare) {
    checked(compare[1]!, [compare[3]!], term);
    return { op: compare[2] === '!=' ? 'notin' : 'in', key: compare[1]!, values: [compare[3]!] };
  }
  const negated = term.startsWith('!');
  const key = negated ? term.slice(1).trim() : term;
  checked(key, [], term);
  return { op: negated ? 'notExists' : 'exists', key };
}

export function parseLabelSelector(text: string | null): LabelSelector {
  return text ? splitTopLevel(text).map(parseTerm) : [];
}

export function matchesLabels(selector: LabelSelector, labels: Labels): boolean {
  return selector.every((req) => {
    const value = labels?.[req.key];
    switch (req.op) {
      case 'exists':
        return value !== undefined;
      case 'notExists':
        return value === undefined;
      case 'in':
        return value !== undefined && req.values.includes(value);
      case 'notin':
        return value === undefined || !req.values.includes(value);
    }
  });
}

interface FieldRequirement {
  path: string;
  value: string;
  equal: boolean;
}

export type FieldSelector = FieldRequirement[];

export function parseFieldSelector(text: string | null, allowed: readonly string[]): FieldSelector {
  if (!text) return [];
  return splitTopLevel(text).map((term) => {
    const match = /^([^=!]+)(==|=|!=)(.*)$/.exec(term);
    if (!match) throw badRequest(`invalid selector: '${term}'; can't understand '${term}'`);
    const path = match[1]!.trim();
    if (!allowed.includes(path)) throw badRequest(`field label not supported: ${path}`);
    return { path, value: match[3]!.trim(), equal: match[2] !== '!=' };
  });
}

// Event `source` is the component that reported it, as the server's field set defines it.
const fieldAliases: Record<string, string> = { source: 'source.component' };

function fieldValue(object: unknown, path: string): string {
  let current: unknown = object;
  for (const part of (fieldAliases[path] ?? path).split('.')) {
    current = typeof current === 'object' && current !== null ? (current as Record<string, unknown>)[part] : undefined;
  }
  return current === undefined || current === null ? '' : String(current as string | number | boolean);
}

export function matchesFields(selector: FieldSelector, object: unknown): boolean {
  return selector.every((req) => (fieldValue(object, req.path) === req.value) === req.equal);
}

/*
 * zod issues -> the `{ field, message }` list that a 400 answer carries. Field names come from the
 * caller's input (unknown keys), so they are clipped and stripped of control characters before
 * they can reach a response or a log line; values are never echoed.
 */
import type { ZodError } from 'zod';
import { Invalid } from './errors.js';
import type { InvalidIssue } from './errors.js';

const FIELD_MAX = 120;
const MESSAGE_MAX = 200;

export function clip(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const printable = text.replace(/[\u0000-\u001f\u007f]/g, '?');
  return printable.length > max ? `${printable.slice(0, max - 1)}…` : printable;
}

function fieldPath(prefix: string, path: readonly PropertyKey[]): string {
  let field = prefix;
  for (const key of path) {
    if (typeof key === 'number') field += `[${key}]`;
    else field += field === '' ? String(key) : `.${String(key)}`;
  }
  return clip(field, FIELD_MAX);
}

/** One issue per problem; `prefix` names where the object sat ('data'), `root` the whole input. */
export function zodIssues(error: ZodError, prefix: string, root: string): InvalidIssue[] {
  return error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ field: fieldPath(prefix, [...issue.path, key]), message: 'unknown field' }));
    }
    const field = fieldPath(prefix, issue.path);
    return [{ field: field === '' ? root : field, message: clip(issue.message, MESSAGE_MAX) }];
  });
}

/** Throw one Invalid whose message lists the fields, for callers that read only `.message`. */
export function invalidFrom(title: string, issues: InvalidIssue[]): Invalid {
  const list = issues.map((issue) => `${issue.field}: ${issue.message}`).join('; ');
  return new Invalid(`${title}: ${list}`, issues);
}

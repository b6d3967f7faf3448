/*
 * CloudEvents 1.0 context attributes, checked before the SDK sees them: the SDK would invent an
 * id or a time rather than report one missing.
 */
import { ValidationError } from 'cloudevents';
import { z } from 'zod';
import type { InvalidIssue } from '../errors.js';
import { clip } from '../issues.js';

const required = z.string({ error: 'is required' }).min(1, 'must not be empty');

export const attributeSchema = z.looseObject({
  specversion: z.literal('1.0', { error: 'must be 1.0' }),
  id: required,
  source: required,
  type: required,
  subject: z.string().optional(),
  time: z.iso.datetime({ offset: true, error: 'must be an RFC 3339 timestamp' }).optional(),
  datacontenttype: z.string().optional(),
  dataschema: z.string().optional(),
  traceparent: z.string().optional(),
});

export type Attributes = z.output<typeof attributeSchema>;

export type Mode = 'binary' | 'structured';

/** Name an attribute the way the sender wrote it: a `ce-` header in binary mode. */
export function attributeField(mode: Mode, name: string): string {
  return clip(mode === 'binary' && name !== 'event' ? `ce-${name}` : name, 120);
}

const ATTRIBUTE_NAME = /^[a-z0-9]+$/;

/** Extension names are lower-case letters and digits only (CloudEvents 1.0 section 3.1.1). */
export function checkAttributeNames(names: string[], mode: Mode): InvalidIssue[] {
  return names
    .filter((name) => !ATTRIBUTE_NAME.test(name) && !(mode === 'structured' && name === 'data'))
    .map((name) => ({
      field: attributeField(mode, name),
      message: 'attribute names are lower-case letters and digits only',
    }));
}

interface AjvError {
  instancePath?: string;
  message?: string;
  params?: { missingProperty?: string };
}

/** The SDK reports AJV errors (or a bare message); keep the attribute and AJV's short text. */
export function sdkIssues(err: unknown, mode: Mode): InvalidIssue[] {
  const errors = err instanceof ValidationError ? (err.errors as unknown[]) : [];
  const issues = errors
    .filter((entry): entry is AjvError => typeof entry === 'object' && entry !== null)
    .map((entry) => {
      const name = entry.instancePath?.replace(/^\//, '') || entry.params?.missingProperty || 'event';
      return { field: attributeField(mode, name), message: clip(entry.message ?? 'is invalid', 200) };
    });
  return issues.length > 0 ? issues : [{ field: 'event', message: 'is not a valid CloudEvent' }];
}

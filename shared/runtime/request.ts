/*
 * The platform-neutral request both adapters hand to the runtime, and its size guard.
 */
import { AppError } from '../errors.js';

export interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  rawBody: Buffer | string;
}

/** A body over the configured limit: answered 413, never parsed. */
export class PayloadTooLarge extends AppError {
  constructor(readonly limitBytes: number) {
    super(`request body exceeds ${limitBytes} bytes`);
  }
}

/** Lower-case names, one string per header (repeated headers joined as HTTP folds them). */
export function normalizeHeaders(headers: RawRequest['headers']): Record<string, string> {
  const normalized: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    normalized[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return normalized;
}

export function bodyBytes(rawBody: Buffer | string): number {
  return typeof rawBody === 'string' ? Buffer.byteLength(rawBody, 'utf8') : rawBody.length;
}

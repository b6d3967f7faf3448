import { createHash } from 'node:crypto';

/**
 * A stable UUID (RFC 4122 version 5 layout) derived from a name, for events whose id must be the
 * same however many times they are produced, so the outbox and consumers see one event.
 */
export function stableUuid(name: string): string {
  const bytes = createHash('sha1').update(`devenv-lifecycle:${name}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

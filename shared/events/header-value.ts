/*
 * CloudEvents attribute values as HTTP header values (HTTP protocol binding 1.0.2, section
 * 3.1.3.2). A header value may hold printable US-ASCII only, so a reservation id with a newline,
 * a space or a non-ASCII letter cannot travel as `ce-subject` as it is: fetch refuses to send it.
 * The binding's answer is percent-encoding of the UTF-8 bytes of every character outside
 * U+0021-U+007E, plus space, double-quote and percent. The cloudevents SDK (10.x) neither encodes
 * nor decodes, so both ends are here.
 */

// Printable ASCII except `"` (0x22) and `%` (0x25): the characters that travel as they are.
const PLAIN = /^[\x21\x23\x24\x26-\x7e]$/;
// A lone UTF-16 surrogate has no UTF-8 form (with the u flag, a proper pair is one code point).
const LONE_SURROGATE = /\p{Cs}/u;

/** Thrown for a value that has no UTF-8 form (a lone surrogate); the message names no value. */
export class BadHeaderValue extends Error {}

export function encodeHeaderValue(value: string): string {
  if (LONE_SURROGATE.test(value)) throw new BadHeaderValue('contains a lone UTF-16 surrogate, which has no UTF-8 form');
  let encoded = '';
  for (const character of value) {
    encoded += PLAIN.test(character) ? character : percentEncode(character);
  }
  return encoded;
}

function percentEncode(character: string): string {
  return [...Buffer.from(character, 'utf8')]
    .map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`)
    .join('');
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * One round of decoding: a double-quoted value (older senders) is unquoted first, then every run
 * of `%xy` escapes is read as UTF-8. Invalid UTF-8 (an overlong form such as %C0%A0, a cut
 * sequence) throws: the binding says such a value MUST be rejected. A `%` that starts no escape
 * is kept as it is, so an older sender's literal percent sign still reads the same.
 */
export function decodeHeaderValue(value: string): string {
  return unquote(value).replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    const bytes = Uint8Array.from(run.slice(1).split('%'), (hex) => parseInt(hex, 16));
    try {
      return utf8.decode(bytes);
    } catch {
      throw new BadHeaderValue('percent-encodes bytes that are not valid UTF-8');
    }
  });
}

function unquote(value: string): string {
  if (value.length < 2 || !value.startsWith('"') || !value.endsWith('"')) return value;
  return value.slice(1, -1).replace(/\\(.)/g, '$1');
}

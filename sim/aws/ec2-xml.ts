/*
 * EC2 Query responses: `<{Action}Response xmlns=…>` with lowerCamel members, lists as
 * `<xxxSet><item>…</item></xxxSet>`, errors as `<Response><Errors><Error>…` (verified against
 * SDK 3.1169, see the test-harness notes).
 */
export type XmlValue = string | number | boolean | Date | XmlValue[] | XmlObject;
export interface XmlObject {
  [member: string]: XmlValue | undefined;
}

const namespace = 'http://ec2.amazonaws.com/doc/2016-11-15/';

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function render(name: string, value: XmlValue): string {
  if (Array.isArray(value)) return `<${name}>${value.map((item) => render('item', item)).join('')}</${name}>`;
  if (value instanceof Date) return `<${name}>${value.toISOString()}</${name}>`;
  if (typeof value === 'object') return `<${name}>${renderMembers(value)}</${name}>`;
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

function renderMembers(members: XmlObject): string {
  return Object.entries(members)
    .map(([name, value]) => (value === undefined ? '' : render(name, value)))
    .join('');
}

export function ec2ResponseXml(action: string, requestId: string, members: XmlObject): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${namespace}">` +
    `<requestId>${requestId}</requestId>${renderMembers(members)}</${action}Response>`
  );
}

export function ec2ErrorXml(code: string, message: string, requestId: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${escapeXml(code)}</Code>` +
    `<Message>${escapeXml(message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`
  );
}

/** EC2 omits an empty tagSet entirely. */
export function tagSet(tags: Map<string, string>): XmlValue[] | undefined {
  if (tags.size === 0) return undefined;
  return [...tags].map(([key, value]) => ({ key, value }));
}

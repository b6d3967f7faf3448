/*
 * The bodies extend accepts. An acting POST carries nothing but, from the confirmation page's
 * form, `confirm`; anything else is a 400 naming the field (a misspelt field is never ignored).
 * Slack posts `payload=<JSON>` whose first action's value is the link's token, with the
 * `response_url` the outcome is posted back to.
 */
import { z } from 'zod';

export class BodyError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

const FORM_FIELDS = new Set(['confirm']);

export function parseActBody(body: string, contentType: string | undefined): void {
  if (body.trim() === '') return;
  const type = (contentType ?? '').toLowerCase();
  if (type.startsWith('application/x-www-form-urlencoded')) {
    for (const field of new URLSearchParams(body).keys()) {
      if (!FORM_FIELDS.has(field)) throw new BodyError(`body.${field.slice(0, 64)}`, 'unknown field');
    }
    return;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new BodyError('body', 'must be empty, a JSON object or a form');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new BodyError('body', 'must be a JSON object');
  const [unknown] = Object.keys(parsed);
  if (unknown !== undefined)
    throw new BodyError(`body.${unknown.slice(0, 64)}`, 'unknown field: an action link takes no options');
}

const slackPayload = z.object({
  type: z.literal('block_actions'),
  actions: z
    .array(z.object({ action_id: z.string().max(255), value: z.string().min(1).max(2000) }))
    .min(1)
    .max(5),
  response_url: z
    .url({ protocol: /^https?$/ })
    .max(2048)
    .optional(),
});

export interface SlackClick {
  token: string;
  responseUrl?: string;
}

export function parseSlackBody(body: string): SlackClick {
  const raw = new URLSearchParams(body).get('payload');
  if (raw === null) throw new BodyError('payload', 'required (Slack posts payload=<JSON>)');
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new BodyError('payload', 'must be JSON');
  }
  const parsed = slackPayload.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new BodyError(['payload', ...issue.path.map(String)].join('.'), issue.message);
  }
  return { token: parsed.data.actions[0]!.value, responseUrl: parsed.data.response_url };
}

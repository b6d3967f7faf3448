/*
 * `devenv-lifecycle invoke <fn>` against a gateway, like `faas-cli invoke`: the options go as a
 * JSON body, the answer is printed as it came, and a non-2xx answer exits non-zero.
 */
import { Invalid } from '../shared/errors.js';

export interface InvokeArgs {
  fn: string;
  dryRun: boolean;
  maxItems?: string;
  json?: string;
}

export function invocationBody(args: InvokeArgs): Record<string, unknown> {
  let body: Record<string, unknown> = {};
  if (args.json !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(args.json);
    } catch {
      throw new Invalid('--json is not valid JSON', [{ field: '--json', message: 'must be a JSON object' }]);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new Invalid('--json must be a JSON object', [{ field: '--json', message: 'must be a JSON object' }]);
    }
    body = parsed as Record<string, unknown>;
  }
  if (args.dryRun) body.dryRun = true;
  if (args.maxItems !== undefined) {
    const maxItems = Number(args.maxItems);
    if (!Number.isInteger(maxItems) || maxItems <= 0) {
      throw new Invalid('--max-items must be a positive whole number', [{ field: '--max-items', message: 'must be a positive whole number' }]);
    }
    body.maxItems = maxItems;
  }
  return body;
}

export async function invokeThroughGateway(gateway: string, args: InvokeArgs): Promise<{ ok: boolean; text: string }> {
  const url = `${gateway.replace(/\/+$/, '')}/function/${encodeURIComponent(args.fn)}`;
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(invocationBody(args)),
  });
  return { ok: response.ok, text: await response.text() };
}

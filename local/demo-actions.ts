/*
 * The demo's action links: unless configured, warnings in the demo carry links to the local
 * gateway's extend function (`<gateway>/function/extend/a/<token>`), signed with a key made for
 * this start only, so a link from the demo's first warning can be clicked with curl at once.
 */
import { randomBytes } from 'node:crypto';

export function demoActionEnv(env: Record<string, string | undefined>, gatewayUrl: string): Record<string, string> {
  if (env.ACTION_BASE_URL !== undefined) return {};
  return {
    ACTION_BASE_URL: `${gatewayUrl}/function/extend`,
    ...(env.ACTION_SIGNING_KEY === undefined && { ACTION_SIGNING_KEY: randomBytes(32).toString('base64url') }),
  };
}

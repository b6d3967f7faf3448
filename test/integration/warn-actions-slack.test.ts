/*
 * WARN_WEBHOOK_FORMAT=slack: the notice is Block Kit with one button per action; each button's
 * value is the action token the extend function's Slack interactive endpoint verifies.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyActionToken } from '../../shared/actions/token.js';
import { warn } from '../../functions/warn/handler.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertReservation } from '../support/fixtures.js';

const KEY = 's'.repeat(40);
const posts: Record<string, unknown>[] = [];
const hook = http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    posts.push(JSON.parse(body) as Record<string, unknown>);
    res.writeHead(200).end();
  });
});
let hookUrl = '';
beforeAll(async () => {
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
});
afterAll(() => new Promise<void>((resolve) => hook.close(() => resolve())));

const h = useFunctionHarness(() => ({
  WEBHOOK_URL: hookUrl,
  WARN_WEBHOOK_FORMAT: 'slack',
  ACTION_BASE_URL: 'https://actions.example',
  ACTION_SIGNING_KEY: KEY,
}));

interface Button {
  type: string;
  action_id: string;
  value: string;
  url?: string;
  text: { text: string };
}

describe('warn: Slack Block Kit notices', () => {
  it('renders one button per action, its value the token for the interactive endpoint', async () => {
    const deadline = new Date(h.clock.now().getTime() + 12 * 60_000);
    await insertReservation(h.deps.pool, {
      reservation_id: 'ws010001-<!here>',
      pod_name: 'gpu-dev-ws010001',
      namespace: 'gpu-dev',
      expires_at: deadline,
    });
    h.sim.kube.addPod({ namespace: 'gpu-dev', name: 'gpu-dev-ws010001' });
    expect((await h.schedule(warn)).summary).toMatchObject({ webhook_sent: 1 });
    const body = posts[0] as { text: string; blocks: { type: string; text?: { text: string }; elements?: Button[] }[] };
    expect(body.text).toContain('expires in 12 minute(s)');
    // An id cannot forge a mention or a link in mrkdwn.
    expect(body.blocks[0]!.text!.text).toContain('ws010001-&lt;!here&gt;');
    const buttons = body.blocks.find((block) => block.type === 'actions')!.elements!;
    expect(buttons.map((b) => b.action_id)).toEqual([
      'devenv-lifecycle:extend',
      'devenv-lifecycle:snooze',
      'devenv-lifecycle:end-now',
    ]);
    for (const button of buttons) {
      expect(button.type).toBe('button');
      expect(button.url).toBeUndefined();
      const claims = await verifyActionToken(KEY, button.value, h.clock.now());
      expect(claims).toMatchObject({
        reservationId: 'ws010001-<!here>',
        action: button.action_id.split(':')[1],
        deadline,
      });
    }
  });
});

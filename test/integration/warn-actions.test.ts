/*
 * Actionable warnings (issue 19): with ACTION_BASE_URL set, the pod file shows one signed link per
 * action (its short form, /a/<12-character id>) next to the safely quoted command, and the webhook
 * JSON carries them as `actions: [{action, url, shortUrl, label, expiresAt}]`. A link never travels in an exec argument (exec
 * arguments are in the request URL, which API servers audit-log), nor in anything warn records.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { verifyActionToken } from '../../shared/actions/token.js';
import { warn } from '../../functions/warn/handler.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertReservation } from '../support/fixtures.js';

const KEY = 'k'.repeat(40);
const BASE = 'https://actions.example/function/extend';
const posts: Record<string, unknown>[] = [];
let status = 200;
const hook = http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    posts.push(JSON.parse(body) as Record<string, unknown>);
    res.writeHead(status).end();
  });
});
let hookUrl = '';
beforeAll(async () => {
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
});
afterAll(() => new Promise<void>((resolve) => hook.close(() => resolve())));

const h = useFunctionHarness(() => ({ WEBHOOK_URL: hookUrl, ACTION_BASE_URL: BASE, ACTION_SIGNING_KEY: KEY }));
const inMinutes = (minutes: number) => new Date(h.clock.now().getTime() + minutes * 60_000);

async function reservation(id: string, podName: string, expiresInMinutes: number) {
  await insertReservation(h.deps.pool, {
    reservation_id: id,
    pod_name: podName,
    namespace: 'gpu-dev',
    expires_at: inMinutes(expiresInMinutes),
  });
  h.sim.kube.addPod({ namespace: 'gpu-dev', name: podName, labels: { 'reservation-id': id } });
  return { namespace: 'gpu-dev', name: podName };
}

const tokensIn = (text: string) => text.match(/\/a\/[A-Za-z0-9_.-]{40,}/g) ?? [];

beforeEach(() => {
  posts.length = 0;
  status = 200;
});

describe('warn: action links in every channel', () => {
  it('the webhook JSON carries one signed URL per action, bound to the reservation and its deadline', async () => {
    const deadline = inMinutes(12);
    await reservation('wa010001-json', 'gpu-dev-wa010001', 12);
    expect((await h.schedule(warn)).summary).toMatchObject({ warned: 1, webhook_sent: 1 });
    const actions = posts[0]!.actions as {
      action: string;
      url: string;
      shortUrl?: string;
      label: string;
      expiresAt: string;
    }[];
    expect(actions.map((a) => a.action)).toEqual(['extend', 'snooze', 'end-now']);
    for (const link of actions) {
      expect(link.url.startsWith(`${BASE}/a/`)).toBe(true);
      expect(link.shortUrl).toMatch(new RegExp(`^${BASE.replace(/[./]/g, '\\$&')}/a/[A-Za-z0-9_-]{12}$`));
      expect(link.label).not.toBe('');
      expect(new Date(link.expiresAt).getTime()).toBeGreaterThan(h.clock.now().getTime());
      const claims = await verifyActionToken(KEY, link.url.slice(`${BASE}/a/`.length), h.clock.now());
      expect(claims).toMatchObject({ reservationId: 'wa010001-json', action: link.action, deadline });
    }
    expect(posts[0]).toMatchObject({ type: 'reservation.warned', reservationId: 'wa010001-json', levelMinutes: 15 });
  });

  it('the pod file shows the links and the quoted command; no exec argument carries a link', async () => {
    const hostile = `wa020001-'$(id)'`;
    const pod = await reservation(hostile, 'gpu-dev-wa020001', 12);
    await h.schedule(warn);
    const file = h.sim.kube.readFile(pod, '/home/dev/WARN_EXPIRES_IN_12MIN.txt')!;
    expect(file).toContain(`gpu-dev extend 'wa020001-'\\''$(id)'\\'''`);
    const lines = file.split('\n');
    // The file shows the short links (a person reads and copies them); each stands for a token
    // bound to this reservation, its deadline and that action.
    for (const [label, action] of [
      ['Extend by 2h:', 'extend'],
      ['Snooze these warnings:', 'snooze'],
      ['End now (work saved):', 'end-now'],
    ] as const) {
      const line = lines.find((l) => l.trim().startsWith(label))!;
      const shortId = new RegExp(`${BASE.replace(/[./]/g, '\\$&')}/a/([A-Za-z0-9_-]{12})$`).exec(line)?.[1];
      expect(shortId, line).toBeDefined();
      const { rows } = await h.deps.pool.query(
        `select token, reservation_id, action from action_links where short_id = $1`,
        [shortId],
      );
      expect(rows[0]).toMatchObject({ reservation_id: hostile, action });
      expect(await verifyActionToken(KEY, rows[0].token, h.clock.now())).toMatchObject({
        reservationId: hostile,
        action,
      });
    }
    expect(tokensIn(file)).toEqual([]);
    const [exec] = h.sim.kube.execs(pod);
    expect(tokensIn(exec!.argv.join(' '))).toEqual([]);
    expect(h.sim.kube.broadcasts(pod).every((b) => tokensIn(b.message).length === 0)).toBe(true);
  });

  it('a refused post keeps no link anywhere warn records (ledger, run answer)', async () => {
    status = 500;
    await reservation('wa030001-refused', 'gpu-dev-wa030001', 12);
    const result = await h.schedule(warn);
    expect(result.summary).toMatchObject({ warned: 1, webhook_failed: 1 });
    expect(tokensIn(JSON.stringify(posts))).toHaveLength(3);
    expect(tokensIn(JSON.stringify(result))).toEqual([]);
    const { rows } = await h.deps.pool.query(`select * from warning_ledger where reservation_id = 'wa030001-refused'`);
    expect(rows[0]).toMatchObject({ webhook_state: 'failed', last_error: 'webhook answered HTTP 500' });
    expect(tokensIn(JSON.stringify(rows))).toEqual([]);
    const runs = await h.deps.pool.query(`select * from function_runs`);
    expect(tokensIn(JSON.stringify(runs.rows))).toEqual([]);
  });
});

/*
 * Warnings re-arm after an extension, through the local stack with an injected clock: warn is
 * ticked every minute over HTTP as the cron-connector does, the 30-minute warning's webhook JSON
 * carries the action links, and the extend link is POSTed through the gateway. The ledger is keyed
 * by deadline, so the old deadline's remaining levels are never sent and the new deadline's three
 * levels all are, with no special case anywhere in warn.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../local/free-port.js';
import { startLocalStack } from '../../local/stack.js';
import type { LocalStack } from '../../local/stack.js';
import { ManualClock } from '../../shared/clock.js';
import type { Sim } from '../../sim/server.js';
import { useTestDatabase } from '../support/database.js';
import { insertReservation } from '../support/fixtures.js';

const db = useTestDatabase();
const clock = new ManualClock('2026-06-01T12:00:00Z');
const id = 'e2er1001-0000-4000-8000-00000000a11a';
const pod = { namespace: 'gpu-dev', name: 'gpu-dev-e2er1001' };

interface Notice {
  at: string;
  body: { levelMinutes: number; expiresAt: string; actions: { action: string; url: string }[] };
}
const notices: Notice[] = [];
const webhook = http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    notices.push({ at: clock.now().toISOString().slice(11, 16), body: JSON.parse(body) as Notice['body'] });
    res.writeHead(204).end();
  });
});

let stack: LocalStack;
let sim: Sim;

beforeAll(async () => {
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  const port = await freePort();
  const env = {
    DATABASE_URL: db.url,
    SECRETS_DIR: '/nonexistent',
    LOG_LEVEL: 'silent',
    WARNING_MINUTES: '30,15,5',
    WEBHOOK_URL: `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook`,
    ACTION_BASE_URL: `http://127.0.0.1:${port}/function/extend`,
    ACTION_SIGNING_KEY: 'e2e-rearm-signing-key-0123456789abcdef',
  };
  stack = await startLocalStack({ env, port, demo: false, schedules: false, clock });
  if (!stack.cluster.simulated) throw new Error('the e2e test needs the simulated cluster');
  sim = stack.cluster.sim;
});
afterAll(async () => {
  await stack?.stop();
  await new Promise<void>((resolve) => webhook.close(() => resolve()));
});

async function tickWarn(): Promise<number> {
  const response = await fetch(`${stack.url}/function/warn`, {
    method: 'POST',
    headers: { 'x-connector': 'cron-connector', 'x-topic': 'cron-function' },
  });
  const body = (await response.json()) as { outcome: string; summary: Record<string, number> };
  expect(body.outcome).toBe('succeeded');
  return body.summary.warned ?? 0;
}

/** Tick warn once a minute until `until` (HH:MM, exclusive); the minutes at which it warned. */
async function tickUntil(until: string): Promise<string[]> {
  const warned: string[] = [];
  while (clock.now().toISOString().slice(11, 16) < until) {
    if ((await tickWarn()) > 0) warned.push(clock.now().toISOString().slice(11, 16));
    clock.advanceMinutes(1);
  }
  return warned;
}

describe('warn re-arms after an extension (local stack, injected clock)', () => {
  it('sends the new deadline its three levels and the old one nothing more', async () => {
    await insertReservation(db.pool, {
      reservation_id: id,
      pod_name: pod.name,
      namespace: pod.namespace,
      expires_at: new Date('2026-06-01T12:40:00Z'),
      launched_at: new Date('2026-06-01T10:00:00Z'),
      status_changed_at: new Date('2026-06-01T10:00:00Z'),
    });
    sim.kube.addPod({ ...pod, labels: { 'reservation-id': id } });

    expect(await tickUntil('12:12')).toEqual(['12:10']);
    const first = notices.at(-1)!.body;
    expect(first).toMatchObject({ levelMinutes: 30, expiresAt: '2026-06-01T12:40:00.000Z' });
    const extend = first.actions.find((a) => a.action === 'extend')!;
    expect(extend.url.startsWith(`${stack.url}/function/extend/a/`)).toBe(true);

    const answer = await fetch(extend.url, { method: 'POST' });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({
      status: 'done',
      action: 'extend',
      expiresAt: '2026-06-01T14:40:00.000Z',
    });

    // The old deadline's 15- and 5-minute levels (12:25, 12:35) never come; the new one's all do.
    expect(await tickUntil('12:46')).toEqual([]);
    clock.set('2026-06-01T14:05:00Z'); // nothing is due in between
    expect(await tickUntil('14:41')).toEqual(['14:10', '14:25', '14:35']);
    expect(sim.kube.listFiles(pod, '/home/dev').filter((name) => name.startsWith('WARN_'))).toEqual([
      'WARN_EXPIRES_IN_5MIN.txt',
    ]);
    const { rows } = await db.pool.query(
      `select to_char(expires_at at time zone 'UTC', 'HH24:MI') as deadline, level_minutes, state from warning_ledger where reservation_id = $1 order by expires_at, level_minutes desc`,
      [id],
    );
    expect(rows).toEqual([
      { deadline: '12:40', level_minutes: 30, state: 'sent' },
      { deadline: '14:40', level_minutes: 30, state: 'sent' },
      { deadline: '14:40', level_minutes: 15, state: 'sent' },
      { deadline: '14:40', level_minutes: 5, state: 'sent' },
    ]);
    // Each new warning's notice carries fresh links for the new deadline.
    expect(
      notices.map((n) => [n.at, n.body.levelMinutes, n.body.expiresAt.slice(11, 16), n.body.actions.length]),
    ).toEqual([
      ['12:10', 30, '12:40', 3],
      ['14:10', 30, '14:40', 3],
      ['14:25', 15, '14:40', 3],
      ['14:35', 5, '14:40', 3],
    ]);
  });
});

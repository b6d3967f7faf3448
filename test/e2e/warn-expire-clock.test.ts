/*
 * A reservation's last forty minutes in the local stack, with time moved by hand: warn and expire
 * are ticked every minute over HTTP exactly as the cron-connector does. The reservation receives
 * three warnings (30, 15, 5 minutes: file in the pod, wall broadcast, webhook), nothing after its
 * deadline, expires only once the grace period is over, and its reservation.expired event travels
 * through the outbox and the gateway into cleanup-pod's inbox.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack } from '../../local/stack.js';
import type { LocalStack } from '../../local/stack.js';
import { ManualClock } from '../../shared/clock.js';
import type { Sim } from '../../sim/server.js';
import { useTestDatabase } from '../support/database.js';
import { insertReservation } from '../support/fixtures.js';
import { eventually } from '../support/eventually.js';

const db = useTestDatabase();
const clock = new ManualClock('2026-06-01T12:00:00Z');
const id = 'e2ec1001-0000-4000-8000-00000000c10c';
const pod = { namespace: 'gpu-dev', name: 'gpu-dev-e2ec1001' };
const expiresAt = new Date('2026-06-01T12:40:00Z');

const webhookCalls: { at: string; body: Record<string, unknown> }[] = [];
const webhook = http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    webhookCalls.push({ at: clock.now().toISOString(), body: JSON.parse(body) as Record<string, unknown> });
    res.writeHead(204).end();
  });
});

let stack: LocalStack;
let sim: Sim;

beforeAll(async () => {
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  const webhookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/slack`;
  const env = {
    DATABASE_URL: db.url,
    SECRETS_DIR: '/nonexistent',
    LOG_LEVEL: 'silent',
    WEBHOOK_URL: webhookUrl,
    WARNING_MINUTES: '30,15,5',
    GRACE_PERIOD_SECONDS: '120',
  };
  stack = await startLocalStack({ env, port: 0, demo: false, schedules: false, clock });
  if (!stack.cluster.simulated) throw new Error('the e2e test needs the simulated cluster');
  sim = stack.cluster.sim;
});
afterAll(async () => {
  await stack?.stop();
  await new Promise<void>((resolve) => webhook.close(() => resolve()));
});

/** A tick as the cron-connector sends it: empty body and its two headers; answers the run summary. */
async function tick(fn: string): Promise<{ outcome: string; summary: Record<string, number> }> {
  const response = await fetch(`${stack.url}/function/${fn}`, {
    method: 'POST',
    headers: { 'x-connector': 'cron-connector', 'x-topic': 'cron-function' },
  });
  expect(response.status).toBe(200);
  return (await response.json()) as { outcome: string; summary: Record<string, number> };
}

const minute = () => clock.now().toISOString().slice(11, 16);
const warningFiles = () => sim.kube.listFiles(pod, '/home/dev').filter((name) => name.startsWith('WARN_'));

describe('warn and expire over the local stack with an injected clock', () => {
  it('warns at 30, 15 and 5 minutes, expires after the grace period, and hands the event to cleanup-pod', async () => {
    await insertReservation(db.pool, {
      reservation_id: id,
      pod_name: pod.name,
      namespace: pod.namespace,
      expires_at: expiresAt,
      launched_at: new Date('2026-06-01T10:00:00Z'),
      status_changed_at: new Date('2026-06-01T10:00:00Z'),
    });
    sim.kube.addPod({ ...pod, labels: { 'reservation-id': id } });

    const warnedAt: Record<string, string[]> = {};
    let expiredAt: string | undefined;
    for (let step = 0; step <= 45 && expiredAt === undefined; step++) {
      const warned = await tick('warn');
      expect(warned.outcome).toBe('succeeded');
      if (warned.summary.warned! > 0) warnedAt[minute()] = warningFiles();
      const expired = await tick('expire');
      expect(expired.outcome).toBe('succeeded');
      if (expired.summary.expired! > 0) expiredAt = minute();
      clock.advanceMinutes(1);
    }

    // One warning per level, each at the first tick past it, each file replacing the one before.
    expect(warnedAt).toEqual({
      '12:10': ['WARN_EXPIRES_IN_30MIN.txt'],
      '12:25': ['WARN_EXPIRES_IN_15MIN.txt'],
      '12:35': ['WARN_EXPIRES_IN_5MIN.txt'],
    });
    const text = sim.kube.readFile(pod, '/home/dev/WARN_EXPIRES_IN_5MIN.txt')!;
    expect(text).toContain('Expires at:     2026-06-01 12:40:00 UTC');
    expect(text).toContain(`gpu-dev extend ${id}`);
    expect(sim.kube.broadcasts(pod).map((b) => [b.at.toISOString().slice(11, 16), b.message])).toEqual([
      ['12:10', expect.stringContaining('expires in 30 minutes')],
      ['12:25', expect.stringContaining('expires in 15 minutes')],
      ['12:35', expect.stringContaining('expires in 5 minutes')],
    ]);
    expect(
      webhookCalls.map((call) => [call.at.slice(11, 16), call.body.levelMinutes, call.body.reservationId]),
    ).toEqual([
      ['12:10', 30, id],
      ['12:25', 15, id],
      ['12:35', 5, id],
    ]);

    // Deadline 12:40, grace 120 s: 12:42 is still inside the grace period (strictly later only).
    expect(expiredAt).toBe('12:43');
    const { rows } = await db.pool.query(
      'select status, reservation_ended from reservations where reservation_id = $1',
      [id],
    );
    expect(rows).toEqual([{ status: 'expired', reservation_ended: new Date('2026-06-01T12:43:00Z') }]);

    await eventually(
      async () => (await db.pool.query(`select 1 from event_inbox where consumer = 'cleanup-pod'`)).rowCount === 1,
    );
    const inbox = await db.pool.query(
      `select i.type from event_inbox i join event_outbox o on o.event_id::text = i.event_id where i.consumer = 'cleanup-pod' and o.subject = $1`,
      [id],
    );
    expect(inbox.rows).toEqual([{ type: 'dev.devenv.lifecycle.reservation.expired' }]);
  });
});

/*
 * The local stack as `npm start` builds it (database given, simulated cluster, all six functions
 * behind the gateway on a free port), driven with curl-like requests: an expired reservation's
 * event travels through the outbox and the gateway to cleanup-pod, which tears it down.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack } from '../../local/stack.js';
import type { LocalStack } from '../../local/stack.js';
import { useTestDatabase } from '../support/database.js';
import { insertReservation } from '../support/fixtures.js';
import { eventually } from '../support/eventually.js';

const db = useTestDatabase();
let stack: LocalStack;

beforeAll(async () => {
  stack = await startLocalStack({ env: { DATABASE_URL: db.url, SECRETS_DIR: '/nonexistent', LOG_LEVEL: 'silent' }, port: 0, demo: false, schedules: false });
});
afterAll(() => stack?.stop());

describe('local stack', () => {
  it('uses the simulator when no cluster is configured and serves every function', async () => {
    expect(stack.cluster.simulated).toBe(true);
    const list = (await (await fetch(`${stack.url}/system/functions`)).json()) as { name: string }[];
    expect(list.map((fn) => fn.name).sort()).toEqual(['cleanup-pod', 'ending-watchdog', 'expire', 'oom-scan', 'snapshot-sync', 'warn']);
  });

  it('expires over HTTP and chains reservation.expired to cleanup-pod through the outbox', async () => {
    const id = 'e2e00001-0000-4000-8000-000000000001';
    await insertReservation(db.pool, { reservation_id: id, expires_at: new Date(Date.now() - 10 * 60_000), pod_name: 'gpu-dev-e2e00001', namespace: 'gpu-dev' });
    const answer = await fetch(`${stack.url}/function/expire`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({ outcome: 'succeeded', summary: { expired: 1, events_delivered: 1 } });
    await eventually(async () => (await db.pool.query(`select 1 from cleanup_progress where reservation_id = $1 and step = 'done'`, [id])).rowCount === 1);
    const finished = `select outcome, error from function_runs where function = 'cleanup-pod' and trigger = 'event' and finished_at is not null`;
    await eventually(async () => (await db.pool.query(finished)).rowCount === 1);
    expect((await db.pool.query(finished)).rows).toEqual([{ outcome: 'accepted', error: null }]);
    const inbox = await db.pool.query(`select type from event_inbox where consumer = 'cleanup-pod'`);
    expect(inbox.rows).toEqual([{ type: 'dev.devenv.lifecycle.reservation.expired' }]);
  });

  it('answers bad input with a problem naming the field', async () => {
    const answer = await fetch(`${stack.url}/function/ending-watchdog`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"olderThanMinutes":-5}' });
    expect(answer.status).toBe(400);
    expect(JSON.stringify(await answer.json())).toContain('olderThanMinutes');
  });
});

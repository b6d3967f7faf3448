/*
 * The breaker on expire, with the issue's own example: a mistaken bulk UPDATE of `expires_at`
 * puts half the live reservations past their deadline at once. expire ends none of them, deletes
 * no pod, sends no event and ends `halted`; an operator's override lets the next run proceed.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { expire } from '../../functions/expire/handler.js';
import { grantOverride } from '../../local/cli-breaker.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertReservation } from '../support/fixtures.js';

// Limit: max(3, 20% of the active reservations).
const h = useFunctionHarness({ BREAKER_MIN_ACTIONS: '3', BREAKER_FLEET_PERCENT: '20', BREAKER_WINDOW_MINUTES: '10' });
const NS = 'gpu-dev';
const q = async (sql: string, params: unknown[] = []) => (await h.deps.pool.query(sql, params)).rows;

async function fleet(active: number): Promise<string[]> {
  const ids: string[] = [];
  for (let index = 0; index < active; index++) {
    const row = await insertReservation(h.deps.pool, {
      expires_at: new Date(h.clock.now().getTime() + 4 * 3600_000),
    });
    h.sim.kube.addPod({
      name: row.pod_name ?? `gpu-dev-${index}`,
      namespace: NS,
      labels: { 'reservation-id': row.reservation_id },
    });
    ids.push(row.reservation_id);
  }
  return ids;
}

const bulkExpiry = (ids: string[]) =>
  q(`update reservations set expires_at = $2 where reservation_id = any($1::text[])`, [
    ids,
    new Date(h.clock.now().getTime() - 2 * 3600_000),
  ]);
const statuses = async () =>
  Object.fromEntries(
    (await q('select status, count(*)::int n from reservations group by status')).map((row) => [row.status, row.n]),
  );
const outboxRows = async () => (await q('select count(*)::int n from event_outbox'))[0].n as number;

beforeEach(async () => {
  await q('delete from reservations');
  await q('delete from function_runs');
  await q('delete from breaker_overrides');
  await q('delete from event_outbox');
  for (const pod of h.sim.kube.list('pods', NS))
    h.sim.kube.deleteBehindOurBack({ namespace: NS, name: pod.metadata.name });
});

describe('the breaker on expire', () => {
  it('a bulk UPDATE of expires_at that would expire half the fleet expires nothing; an override lets it proceed', async () => {
    const ids = await fleet(20);
    await bulkExpiry(ids.slice(0, 10));

    const halted = await h.schedule(expire);
    expect(halted.outcome).toBe('halted');
    expect(halted.message).toMatch(/blast-radius breaker/);
    expect(await statuses()).toEqual({ active: 20 });
    expect(await outboxRows()).toBe(0);
    expect(h.sim.kube.list('pods', NS)).toHaveLength(20);
    expect(
      await q(`select count(*)::int n from decision_log where action = 'breaker-trip' and run_id = $1`, [halted.runId]),
    ).toEqual([{ n: 1 }]);

    await grantOverride(h.deps.pool, { fn: 'expire', seconds: 3600, reason: 'intended', by: 'ops' }, h.clock.now());
    h.clock.advanceMinutes(1);
    const proceeded = await h.schedule(expire);
    expect(proceeded.outcome).toBe('succeeded');
    expect(await statuses()).toEqual({ active: 10, expired: 10 });
  });

  it('does NOT trip for a few deadlines passing in the normal way', async () => {
    const ids = await fleet(20);
    await bulkExpiry(ids.slice(0, 3));
    const result = await h.schedule(expire);
    expect(result.outcome).toBe('succeeded');
    expect(await statuses()).toEqual({ active: 17, expired: 3 });
  });
});

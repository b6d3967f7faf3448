/*
 * Shadow mode for expire, the cut-over's main case (beside the Python reservation-expiry job):
 * expire in SHADOW_FUNCTIONS ends nothing, sends no event and deletes no pod; the shadow report
 * then lists exactly the disagreements seeded between its ends and the statuses the origin wrote
 * (here: SQL standing in for the old CronJob), and agrees where the origin ended a row the same way.
 */
import { describe, expect, it } from 'vitest';
import { expire } from '../../functions/expire/handler.js';
import { buildShadowReport, formatShadowReport } from '../../local/cli-shadow.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertReservation } from '../support/fixtures.js';

const h = useFunctionHarness({ SHADOW_FUNCTIONS: 'expire', GRACE_PERIOD_SECONDS: '120' });
const q = async (sql: string, params: unknown[] = []) => (await h.deps.pool.query(sql, params)).rows;

// What the old job writes when it ends a reservation: the status, its time, and sometimes a reason.
const theyEnd = (id: string, status: string, when: Date, reason: string | null = null) =>
  q(
    `update reservations set status = $2, status_changed_at = $3, reservation_ended = $3, failure_reason = $4
     where reservation_id = $1`,
    [id, status, when, reason],
  );
const POD_GONE = 'Pod was manually deleted or removed outside of reservation system';

describe('shadow mode: expire', () => {
  it('ends nothing and the report lists exactly the seeded disagreements', async () => {
    const t0 = h.clock.now();
    const at = (minutes: number) => new Date(t0.getTime() + minutes * 60_000);
    const active = async (n: number, expiresInMinutes: number) => {
      const id = `eeee000${n}-0000-4000-8000-000000000000`;
      const podName = `gpu-dev-eeee000${n}`;
      await insertReservation(h.deps.pool, {
        reservation_id: id,
        pod_name: podName,
        launched_at: at(-240),
        status_changed_at: at(-240),
        expires_at: at(expiresInMinutes),
      });
      h.sim.kube.addPod({ name: podName, namespace: 'gpu-dev', labels: { 'reservation-id': id } });
      return id;
    };
    const agreed = await active(1, -10);
    const stillLive = await active(2, -10);
    const otherEnd = await active(3, -10);
    const later = await active(4, -10);
    const theyOnly = await active(5, 60); // not due: the old job's pod check failed
    const stuck = (
      await insertReservation(h.deps.pool, { status: 'preparing', status_changed_at: at(-120), expires_at: null })
    ).reservation_id;
    const before = await q('select * from reservations order by reservation_id');

    const first = await h.schedule(expire);
    expect(first).toMatchObject({ outcome: 'succeeded', summary: { shadow: 5 } });
    expect(await q('select * from reservations order by reservation_id')).toEqual(before);
    expect(await q('select * from event_outbox')).toEqual([]);
    expect(h.sim.requests.all().filter((r) => r.method === 'DELETE')).toEqual([]);

    await theyEnd(agreed, 'expired', at(3));
    await theyEnd(otherEnd, 'failed', at(4));
    await theyEnd(stuck, 'failed', at(5));
    await theyEnd(theyOnly, 'expired', at(10), POD_GONE);
    h.clock.set(at(15));
    // stillLive and later, decided again the same way: not recorded again.
    expect((await h.schedule(expire)).summary).toMatchObject({ shadow: 2, shadow_recorded: 0 });
    await theyEnd(later, 'expired', at(30));
    h.clock.set(at(40));

    const [report] = await buildShadowReport(h.deps.pool, {
      since: at(-60),
      until: h.clock.now(),
      toleranceSeconds: 900,
      watchdogOlderThanMinutes: 30,
    });
    expect(report).toMatchObject({ fn: 'expire', compared: 5, agreed: 2, pending: 0, uncompared: 0 });
    expect(
      report!.disagreements.map((d) => [
        d.kind,
        d.entity.id,
        d.ours?.action ?? null,
        d.theirs.status,
        d.theirs.statusChangedAt,
      ]),
    ).toEqual([
      ['we-would-act', stillLive, 'expire', 'active', at(-240).toISOString()],
      ['they-acted', theyOnly, null, 'expired', at(10).toISOString()],
      ['different-end', otherEnd, 'expire', 'failed', at(4).toISOString()],
      ['they-acted-later', later, 'expire', 'expired', at(30).toISOString()],
    ]);
    expect(report!.disagreements[1]!.theirs.evidence).toEqual({ failureReason: POD_GONE });
    expect(report!.disagreements[0]!.ours).toMatchObject({
      decisions: 1,
      firstDecidedAt: t0.toISOString(),
      inputs: { expiresAt: at(-10).toISOString(), destructive: true },
    });
    const text = formatShadowReport([report!]);
    expect(text).toContain('5 row(s) we would have ended, 2 agree, 0 too recent to tell, 4 disagreement(s)');
    expect(text).toContain(
      'compared: reservations the origin expired (reservations.status, status_changed_at, failure_reason)',
    );
    expect(text).toContain(`theirs: expired since ${at(10).toISOString()} {"failureReason":"${POD_GONE}"}`);
    expect(text).toContain(`reservation ${otherEnd}: they ended it another way`);
  });

  it('records its pod sightings in shadow too, so it decides a pod-gone end as a live run would (and acts on none)', async () => {
    await q('delete from reservations');
    const t0 = h.clock.now();
    const id = 'eeee0009-0000-4000-8000-000000000000';
    await insertReservation(h.deps.pool, {
      reservation_id: id,
      pod_name: 'gpu-dev-eeee0009',
      launched_at: new Date(t0.getTime() - 240 * 60_000),
      expires_at: new Date(t0.getTime() + 120 * 60_000),
    });
    const before = await q('select * from reservations order by reservation_id');
    // No pod under its name, in a namespace that exists: the first run sees it missing, the second confirms.
    expect((await h.schedule(expire)).summary).toMatchObject({ shadow: 0 });
    h.clock.set(new Date(t0.getTime() + 2 * 60_000));
    const second = await h.schedule(expire);
    expect(second.summary).toMatchObject({ shadow: 1 });
    expect(
      await q(`select action, outcome from decision_log where run_id = $1 and entity_id = $2`, [second.runId, id]),
    ).toEqual([{ action: expect.stringMatching(/^expire/), outcome: 'shadow' }]);
    expect(await q('select * from reservations order by reservation_id')).toEqual(before);
    expect(await q('select * from event_outbox')).toEqual([]);
  });
});

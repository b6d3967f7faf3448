/*
 * "End now" from a warning's link leads to the normal teardown, as an expiry does: the POST ends
 * the reservation, reservation.ended-by-user travels through the outbox and the gateway to
 * cleanup-pod, which deletes the pod; a tick confirms it gone and requests the shutdown snapshot,
 * and snapshot-sync completes it. The local stack, the simulated cluster and a ManualClock.
 */
import { describe, expect, it } from 'vitest';
import { actionLinks } from '../../shared/actions/links.js';
import { ManualClock } from '../../shared/clock.js';
import { useTestDatabase } from '../support/database.js';
import { eventually } from '../support/eventually.js';
import { AVAILABILITY_UPDATER, useLocalStack } from '../support/local-stack.js';

const KEY = 'e2e-signing-key-'.repeat(3);
const db = useTestDatabase();
const clock = new ManualClock('2026-06-01T12:00:00Z');
const local = useLocalStack(db, {
  env: { ACTION_BASE_URL: 'http://127.0.0.1:9/function/extend', ACTION_SIGNING_KEY: KEY },
  clock,
  lambdas: [AVAILABILITY_UPDATER],
});
const one = (sql: string, params: unknown[]) => local.one(sql, params);

describe('end now → cleanup-pod → snapshot-sync in the local stack', () => {
  it('a GET changes nothing; the POST ends it and the normal teardown follows with its shutdown snapshot', async () => {
    const id = 'e4d00001-0000-4000-8000-000000000001';
    const podName = 'gpu-dev-e4d00001';
    const volumeId = 'vol-0e4d000000000001';
    const deadline = new Date(clock.now().getTime() + 20 * 60_000);
    const { sim } = local;
    await local.seedTeardownCandidate({ id, podName, volumeId, expiresAt: deadline });

    const links = await actionLinks(
      { baseUrl: `${local.url}/function/extend`, signingKey: KEY, linkTtlMinutes: 60, defaultExtendMinutes: 120 },
      { reservationId: id, deadline, now: clock.now() },
    );
    const endNow = links.find((link) => link.action === 'end-now')!.url;
    expect((await fetch(endNow)).status).toBe(200);
    expect(await one('select status from reservations where reservation_id = $1', [id])).toEqual({ status: 'active' });

    const ended = await fetch(endNow, { method: 'POST' });
    expect(await ended.json()).toMatchObject({ status: 'done', action: 'end-now' });
    expect(await one('select status from reservations where reservation_id = $1', [id])).toEqual({
      status: 'cancelled',
    });
    await local.untilPodDeletionRequested(id);
    expect(sim.kube.pod({ namespace: 'gpu-dev', name: podName })?.metadata.deletionTimestamp).toBeTruthy();

    clock.advanceSeconds(31);
    sim.kube.tick();
    expect(await local.tick('cleanup-pod')).toMatchObject({
      outcome: 'succeeded',
      summary: { cleaned: 1, disks_released: 1 },
    });
    await eventually(
      async () => (await one(`select state, kind from snapshots where reservation_id = $1`, [id]))?.state === 'pending',
    );
    clock.advanceSeconds(61);
    expect(await local.tick('snapshot-sync')).toMatchObject({
      outcome: 'succeeded',
      summary: { snapshots_completed: 1 },
    });
    expect(await one(`select state, kind from snapshots where reservation_id = $1`, [id])).toEqual({
      state: 'completed',
      kind: 'shutdown',
    });
    const consumed = await db.pool.query(`select consumer, type from event_inbox order by consumer`);
    expect(consumed.rows).toEqual([
      { consumer: 'cleanup-pod', type: 'dev.devenv.lifecycle.reservation.ended-by-user' },
      { consumer: 'snapshot-sync', type: 'dev.devenv.lifecycle.pod.cleaned' },
    ]);
  });
});

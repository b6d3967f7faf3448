/*
 * expire's report of what it left for later (issue 14): with more due than a run may take and
 * than its pod check sees, `deferred` is the true remainder, not the one row past the read limit.
 */
import { describe, expect, it } from 'vitest';
import { expire } from '../../functions/expire/handler.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertReservation } from '../support/fixtures.js';

// A pod check smaller than the backlog, so only the deadline read sees the overdue rows.
const h = useFunctionHarness({ POD_CHECK_BATCH: '2' });
const minutesFromNow = (minutes: number) => new Date(h.clock.now().getTime() + minutes * 60_000);

describe('expire: the backlog it reports', () => {
  it('reports every due row it did not end as deferred, and the count shrinks as runs catch up', async () => {
    for (let i = 0; i < 30; i++) {
      const id = `dddd00${String(i).padStart(2, '0')}-late`;
      await insertReservation(h.deps.pool, {
        reservation_id: id,
        pod_name: `gpu-dev-${id.slice(0, 8)}`,
        namespace: 'gpu-dev',
        launched_at: minutesFromNow(-120),
        expires_at: minutesFromNow(-10 - i),
      });
    }
    for (let i = 0; i < 4; i++) {
      await insertReservation(h.deps.pool, {
        reservation_id: `eeee000${i}-queued`,
        status: 'queued',
        status_changed_at: minutesFromNow(-49 * 60),
        pod_name: null,
      });
    }
    expect((await h.manual(expire, { maxItems: 3 })).summary).toMatchObject({
      expired: 3,
      stale_cancelled: 0,
      deferred: 31,
    });
    expect((await h.manual(expire, { maxItems: 10 })).summary).toMatchObject({ expired: 10, deferred: 21 });
    expect((await h.manual(expire, { maxItems: 30 })).summary).toMatchObject({
      expired: 17,
      stale_cancelled: 4,
      deferred: 0,
    });
  });
});

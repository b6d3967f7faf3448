/*
 * The capacity rule under concurrency: extensions for one GPU type read "nobody is waiting", then
 * a reservation for that type is queued before they write. The extending statement checks again
 * after the extensions of that type have queued on one transaction-level lock, so none of them
 * extends past the waiting reservation; with nobody waiting, concurrent extensions all go through
 * (the lock serialises, it does not refuse) and a double click still extends once.
 */
import { describe, expect, it } from 'vitest';
import { actionLinks } from '../../shared/actions/links.js';
import { CAPACITY_LOCK_NAMESPACE } from '../../shared/db/queries/actions.js';
import { eventually } from '../support/eventually.js';
import {
  insertQueuedReservation,
  insertRunningReservation,
  routeOf,
  useExtendHarness,
  useExtendRoutes,
} from '../support/extend.js';

const h = useExtendHarness({
  EXTEND_DEFAULT_MINUTES: '60',
  EXTEND_CAPACITY_RULE: 'true',
});
const { inMinutes } = h;
const ids = ['cr000001', 'cr000002', 'cr000003', 'cr000004'];
const routes = useExtendRoutes(h, { clockAt: '2026-06-01T12:00:00Z' });
const post = (path: string) => routes.post(path);

async function activeH100(id: string): Promise<string> {
  const deadline = inMinutes(30);
  await insertRunningReservation(h, id, { expires_at: deadline });
  await h.deps.pool.query(`update reservations set gpu_type = 'h100' where reservation_id = $1`, [id]);
  const links = await actionLinks(h.deps.config.actions, { reservationId: id, deadline, now: h.clock.now() });
  return routeOf(links.find((link) => link.action === 'extend')!.url);
}

async function deadlines(): Promise<Date[]> {
  const { rows } = await h.deps.pool.query<{ expires_at: Date }>(
    'select expires_at from reservations where reservation_id = any($1) order by reservation_id',
    [ids],
  );
  return rows.map((row) => row.expires_at);
}

async function waitingOnCapacityLock(): Promise<number> {
  const { rows } = await h.deps.pool.query<{ n: number }>(
    `select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted and classid = $1 and database = (select oid from pg_database where datname = current_database())`,
    [CAPACITY_LOCK_NAMESPACE],
  );
  return rows[0]!.n;
}

describe('extend: the capacity rule holds under concurrent requests', () => {
  it('refuses every extension whose check ran before a reservation for the same GPU type was queued', async () => {
    const paths = await Promise.all(ids.map(activeH100));
    const before = await deadlines();
    // Hold the GPU type's lock so all four requests have read "nobody waiting" and stand at the write.
    const holder = await h.deps.pool.connect();
    try {
      await holder.query('begin');
      await holder.query('select pg_advisory_xact_lock($1, hashtext($2))', [CAPACITY_LOCK_NAMESPACE, 'h100']);
      const answers = Promise.all(paths.map(post));
      await eventually(
        async () => (await waitingOnCapacityLock()) === ids.length,
        'all four requests waiting on the capacity lock',
      );
      await insertQueuedReservation(h, 'cr-queued');
      await holder.query('commit');
      const settled = await answers;
      expect(settled.map((answer) => [answer.status, JSON.parse(answer.body).rule])).toEqual(
        ids.map(() => [409, 'capacity']),
      );
    } finally {
      holder.release();
    }
    expect(await deadlines()).toEqual(before);
    const { rows } = await h.deps.pool
      .query(`select (select count(*)::int from action_tokens) as tokens, (select count(*)::int from reservation_extensions) as counted,
      (select count(*)::int from decision_log where function = 'extend' and reason like 'refused (capacity)%') as refusals`);
    expect(rows[0]).toEqual({ tokens: 0, counted: 0, refusals: ids.length });
  });

  it('lets concurrent extensions of one GPU type all through while nobody waits, and a double click extends once', async () => {
    const paths = await Promise.all(ids.map(activeH100));
    const before = await deadlines();
    const answers = await Promise.all([...paths, paths[0]!].map(post));
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 200, 200, 200, 409]);
    expect(await deadlines()).toEqual(before.map((deadline) => new Date(deadline.getTime() + 60 * 60_000)));
  });
});

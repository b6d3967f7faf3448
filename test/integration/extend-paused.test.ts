/*
 * extend under the operator's pause (LIFECYCLE_PAUSED): a click that the policy accepts is answered
 * 503 `paused` and changes nothing (the link stays usable), while one the policy refuses is still
 * answered with its rule and recorded, as when not paused.
 */
import { describe, expect, it } from 'vitest';
import { actionLinks } from '../../shared/actions/links.js';
import { insertRunningReservation, problemOf, routeOf, useExtendHarness, useExtendRoutes } from '../support/extend.js';

const h = useExtendHarness({ LIFECYCLE_PAUSED: 'true' });
const { post } = useExtendRoutes(h, { clockAt: '2026-06-01T12:00:00Z' });

async function extendLink(id: string): Promise<string> {
  const { rows } = await h.deps.pool.query<{ expires_at: Date }>(
    'select expires_at from reservations where reservation_id = $1',
    [id],
  );
  const links = await actionLinks(h.deps.config.actions, {
    reservationId: id,
    deadline: rows[0]!.expires_at,
    now: h.clock.now(),
  });
  return routeOf(links.find((link) => link.action === 'extend')!.url);
}

async function stateOf(id: string) {
  const { rows } = await h.deps.pool.query(
    `select r.status, r.expires_at,
            (select count(*)::int from action_tokens t where t.reservation_id = r.reservation_id) as tokens,
            (select count(*)::int from event_outbox o where o.subject = r.reservation_id) as events,
            (select count(*)::int from decision_log d where d.entity_id = r.reservation_id) as decisions
     from reservations r where r.reservation_id = $1`,
    [id],
  );
  return rows[0] as Record<string, unknown>;
}

describe('extend while the lifecycle is paused', () => {
  it('an accepted click is answered 503 paused and changes nothing', async () => {
    await insertRunningReservation(h, 'pa000001');
    const before = await stateOf('pa000001');
    const answer = await post(await extendLink('pa000001'));
    expect([answer.status, problemOf(answer).rule]).toEqual([503, 'paused']);
    expect(await stateOf('pa000001')).toEqual(before);
  });

  it('a refused click is still answered with its rule and recorded', async () => {
    await insertRunningReservation(h, 'pa000002', { status: 'expired' });
    const answer = await post(await extendLink('pa000002'));
    expect([answer.status, problemOf(answer).rule]).toEqual([409, 'not-active']);
    expect(await stateOf('pa000002')).toMatchObject({ decisions: 1, tokens: 0 });
  });
});

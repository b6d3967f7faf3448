/*
 * extend's schedule tick on the run kernel: it forgets used tokens and short links whose token
 * expired more than a day ago, and nothing younger. The kernel owns the rest: a dry run lists what
 * it would forget and forgets nothing, maxItems bounds a run (the oldest go first, the rest wait
 * for the next), and the prune writes no decision-log entry per row (bookkeeping only).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { extend } from '../../functions/extend/handler.js';
import { insertShortLinks } from '../../shared/db/queries/action-links.js';
import { useToken } from '../../shared/db/queries/actions.js';
import { insertReservation } from '../support/fixtures.js';
import { useFunctionHarness } from '../support/function-harness.js';

const h = useFunctionHarness();
const RESERVATION = 'prune0001';
const hoursAgo = (hours: number) => new Date(h.clock.now().getTime() - hours * 3_600_000);

async function usedToken(jti: string, expiredHoursAgo: number): Promise<void> {
  const use = { jti, reservationId: RESERVATION, action: 'extend', channel: 'link', outcome: 'extended' } as const;
  await useToken(h.deps.pool, { ...use, tokenExpiresAt: hoursAgo(expiredHoursAgo) }, hoursAgo(expiredHoursAgo + 1));
}

async function shortLink(shortId: string, expiredHoursAgo: number): Promise<void> {
  const expiresAt = hoursAgo(expiredHoursAgo);
  await insertShortLinks(
    h.deps.pool,
    [
      {
        shortId,
        token: `token-of-${shortId}`,
        reservationId: RESERVATION,
        action: 'extend',
        deadline: expiresAt,
        expiresAt,
      },
    ],
    hoursAgo(expiredHoursAgo + 1),
  );
}

const keys = async () => ({
  tokens: (await h.deps.pool.query<{ jti: string }>('select jti from action_tokens order by jti')).rows.map(
    (r) => r.jti,
  ),
  links: (
    await h.deps.pool.query<{ short_id: string }>('select short_id from action_links order by short_id')
  ).rows.map((r) => r.short_id),
});

const decisionsOf = async (runId: string | undefined) =>
  (await h.deps.pool.query('select 1 from decision_log where run_id = $1', [runId])).rowCount;

beforeEach(async () => {
  h.clock.set('2026-06-01T12:00:00Z');
  await h.deps.pool.query('delete from reservations');
  await insertReservation(h.deps.pool, { reservation_id: RESERVATION, status: 'expired' });
});

describe('extend prunes expired used tokens and short links through the kernel', () => {
  it('forgets only what expired more than a day ago: a token or link expired 23 h ago stays', async () => {
    await usedToken('jti-old', 25);
    await usedToken('jti-recent', 23);
    await shortLink('oldAAAAAAAAA', 25);
    await shortLink('recentAAAAAA', 23);

    const result = await h.schedule(extend);

    expect(result).toMatchObject({ outcome: 'succeeded', summary: { tokens_pruned: 1, short_links_pruned: 1 } });
    expect(await keys()).toEqual({ tokens: ['jti-recent'], links: ['recentAAAAAA'] });
    expect(await decisionsOf(result.runId)).toBe(0);
  });

  it('reports zeros when nothing is old enough', async () => {
    await usedToken('jti-recent', 23);
    const result = await h.schedule(extend);
    expect(result.summary).toMatchObject({ tokens_pruned: 0, short_links_pruned: 0 });
    expect(await keys()).toEqual({ tokens: ['jti-recent'], links: [] });
  });

  it('a dry run forgets nothing and lists what it would forget, without the keys', async () => {
    await usedToken('jti-old', 30);
    await shortLink('oldAAAAAAAAA', 26);
    await usedToken('jti-recent', 2);

    const result = await h.manual(extend, { dryRun: true });

    expect(result.summary).toMatchObject({ tokens_pruned: 0, short_links_pruned: 0 });
    expect(result.items).toEqual([
      { action: 'prune-used-token', reservationId: RESERVATION, expiresAt: hoursAgo(30).toISOString() },
      { action: 'prune-short-link', reservationId: RESERVATION, expiresAt: hoursAgo(26).toISOString() },
    ]);
    expect(JSON.stringify(result)).not.toMatch(/jti-old|oldAAAAAAAAA/);
    expect(await keys()).toEqual({ tokens: ['jti-old', 'jti-recent'], links: ['oldAAAAAAAAA'] });
  });

  it('maxItems bounds a run: the oldest go first, the rest wait for the next run', async () => {
    await usedToken('jti-a', 50);
    await usedToken('jti-b', 30);
    await shortLink('linkAAAAAAAA', 40);
    await shortLink('linkBBBBBBBB', 26);

    const first = await h.manual(extend, { maxItems: 2 });

    expect(first.summary).toMatchObject({ tokens_pruned: 1, short_links_pruned: 1 });
    expect(first.summary.deferred).toBeGreaterThan(0);
    expect(await keys()).toEqual({ tokens: ['jti-b'], links: ['linkBBBBBBBB'] });

    const second = await h.manual(extend, { maxItems: 2 });
    expect(second.summary).toMatchObject({ tokens_pruned: 1, short_links_pruned: 1, deferred: 0 });
    expect(await keys()).toEqual({ tokens: [], links: [] });
  });
});

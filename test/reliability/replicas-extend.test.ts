/*
 * Extend clicks in the replicas world: while every function runs as independent replicas over one
 * database (expire among them), users click their warnings' links — each click sent to a random
 * replica's extend, double clicks to two replicas at once (the short and the long URL of one
 * token), and clicks on reservations that expire is ending in the same round. At the end, besides
 * the world's own invariants: no deadline was ever shortened, no ended reservation was revived or
 * extended, and every token extended at most once — exactly as many extensions as winning clicks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actionLinks } from '../../shared/actions/links.js';
import type { ActionLink } from '../../shared/actions/links.js';
import { EventTypes } from '../../shared/events/types.js';
import { useTestDatabase } from '../support/database.js';
import { checkInvariants } from './invariants.js';
import { printSummary, settings, timeLimitMs } from './settings.js';
import { startWorld } from './world.js';
import type { World } from './world.js';

const BASE = 'https://actions.example/function/extend';
const EXTEND_MINUTES = 5;
const db = useTestDatabase();
let world: World;

interface Observed {
  status: string;
  expiresAt: number | null;
}
interface Click {
  round: number;
  reservationId: string;
  link: ActionLink;
  statuses: number[];
}

const history = new Map<string, Observed[]>();
const clicks: Click[] = [];
let currentRound = 0;

beforeAll(async () => {
  world = await startWorld(db, {
    replicas: settings.replicas,
    seed: settings.seed,
    units: settings.units,
    rounds: settings.rounds,
    env: {
      ACTION_BASE_URL: BASE,
      ACTION_SIGNING_KEY: 'replicas-extend-signing-key-0123456789',
      EXTEND_DEFAULT_MINUTES: String(EXTEND_MINUTES),
      EXTEND_MAX_COUNT: '3',
      RESERVATION_MAX_LIFETIME_HOURS: '8760',
      ACTION_LINK_TTL_MINUTES: '30',
    },
  });
});
afterAll(() => world?.close());

async function observe(): Promise<void> {
  const { rows } = await db.pool.query<{ reservation_id: string; status: string; expires_at: Date | null }>(
    'select reservation_id, status, expires_at from reservations',
  );
  for (const row of rows) {
    const seen = history.get(row.reservation_id) ?? [];
    seen.push({ status: row.status, expiresAt: row.expires_at?.getTime() ?? null });
    history.set(row.reservation_id, seen);
  }
}

function pick<T>(items: T[], count: number): T[] {
  const pool = [...items];
  return Array.from(
    { length: Math.min(count, pool.length) },
    () => pool.splice(Math.floor(world.random() * pool.length), 1)[0]!,
  );
}

const replicaEndpoint = () =>
  world.replicas[Math.floor(world.random() * world.replicas.length)]!.endpoints.get('extend')!;
const pathOf = (url: string) => url.slice(BASE.length);

/** Clicks this round: extend links of a few active reservations, each clicked once or twice at once on two replicas. */
async function clickSome(): Promise<void> {
  const { rows } = await db.pool.query<{ reservation_id: string; expires_at: Date }>(
    `select reservation_id, expires_at from reservations where status = 'active' and expires_at is not null`,
  );
  const chosen = pick(rows, 3);
  const deps = world.replicas[0]!.deps[0]!;
  await Promise.all(
    chosen.map(async (row) => {
      const links = await actionLinks(
        deps.config.actions,
        { reservationId: row.reservation_id, deadline: row.expires_at, now: world.clock.now() },
        deps.pool,
      );
      const action = world.random() < 0.8 ? 'extend' : 'snooze';
      const link = links.find((l) => l.action === action)!;
      const urls = world.random() < 0.5 ? [link.shortUrl!, link.url] : [link.url];
      const answers = await Promise.all(
        urls.map((url) => replicaEndpoint()({ method: 'POST', path: pathOf(url), headers: {}, rawBody: '' })),
      );
      clicks.push({
        round: currentRound,
        reservationId: row.reservation_id,
        link,
        statuses: answers.map((a) => a.status),
      });
    }),
  );
}

describe(`replicas with extend clicks (seed ${settings.seed})`, () => {
  it(
    'clicks racing each other and expire: never shortened, never revived, each token extends at most once',
    async () => {
      await observe();
      for (let round = 1; round <= settings.rounds; round++) {
        currentRound = round;
        await world.round(round, { during: clickSome });
        await observe();
      }
      await world.settle();
      await observe();
      const violations = await checkInvariants(db.pool, world.sim, world.fleet, world.bus.published);

      const shortened: string[] = [];
      const revived: string[] = [];
      for (const [id, seen] of history) {
        for (let i = 1; i < seen.length; i++) {
          const [before, after] = [seen[i - 1]!, seen[i]!];
          if (before.expiresAt !== null && after.expiresAt !== null && after.expiresAt < before.expiresAt)
            shortened.push(`${id}: ${before.expiresAt} -> ${after.expiresAt}`);
          if (before.status !== 'active' && after.status === 'active')
            revived.push(`${id}: ${before.status} -> active`);
        }
      }
      const extendClicks = clicks.filter((c) => c.link.action === 'extend');
      const wins = extendClicks.map((c) => c.statuses.filter((s) => s === 200).length);
      const {
        rows: [counts],
      } = await db.pool.query<{ tokens: number; extensions: number; mismatched: number }>(
        `select (select count(*)::int from action_tokens where outcome = 'extended') as tokens,
              (select coalesce(sum(extensions), 0)::int from reservation_extensions) as extensions,
              (select count(*)::int from reservation_extensions e join reservations r using (reservation_id)
                where r.expires_at <> e.original_expires_at + make_interval(mins => e.extended_minutes)) as mismatched`,
      );
      const extendedEvents = world.bus.published.filter((e) => e.type === EventTypes.reservationExtended);
      const lateExtensions = extendedEvents.filter((e) => {
        const data = e.data as { previousExpiresAt: string; extendedAt: string };
        return new Date(data.previousExpiresAt) <= new Date(data.extendedAt);
      });
      printSummary('replicas-extend', {
        seed: settings.seed,
        rounds: settings.rounds,
        replicas: settings.replicas,
        clicks: clicks.length,
        'double clicks': clicks.filter((c) => c.statuses.length === 2).length,
        'extend wins': wins.reduce((a, b) => a + b, 0),
        'answers by status': clicks
          .flatMap((c) => c.statuses)
          .reduce<Record<number, number>>((acc, s) => ({ ...acc, [s]: (acc[s] ?? 0) + 1 }), {}),
        // Clicked while expire (every replica's) ended the same reservation in that round.
        'clicks racing an ending': clicks.filter((c) => history.get(c.reservationId)![c.round]?.status !== 'active')
          .length,
        'invariant violations': violations.length,
      });
      expect(violations).toEqual([]);
      expect(shortened).toEqual([]);
      expect(revived).toEqual([]);
      expect(wins.filter((n) => n > 1)).toEqual([]);
      expect(counts).toEqual({
        tokens: wins.reduce((a, b) => a + b, 0),
        extensions: wins.reduce((a, b) => a + b, 0),
        mismatched: 0,
      });
      expect(new Set(extendedEvents.map((e) => e.id)).size).toBe(counts!.extensions);
      expect(lateExtensions).toEqual([]);
      // The run exercised what it claims: double clicks, and extensions that won.
      expect(clicks.filter((c) => c.statuses.length === 2).length).toBeGreaterThan(0);
      expect(counts!.extensions).toBeGreaterThan(0);
    },
    timeLimitMs(180_000),
  );
});

/*
 * The shutdown stage's lookup by request token keeps the run's pace (pace.ts): rows an earlier
 * attempt left `requested` are looked for in EC2 by their token, 100 tokens a DescribeSnapshots
 * call. When the budget is spent between two of those calls, the tokens not asked about are
 * deferred, never read as "EC2 never made it" (that would make a second snapshot), and a later run
 * with time finds every snapshot the earlier attempts made and makes only the missing ones.
 */
import { expect, it } from 'vitest';
import { REQUEST_TOKEN_TAG } from '../../functions/snapshot-sync/tags.js';
import type { AwsCall } from '../../sim/aws/index.js';
import { seedTeardown, useSyncHarness } from './snapshot-sync-harness.js';
import { SLOW_TEST_MS, callsOf, listParam, runOnSlowEc2, syncState } from './snapshot-sync-pace-support.js';

const { db, h } = useSyncHarness();

const REQUESTED = 150; // two token lookups: 100 tokens, then 50
const TOKENS_PER_CALL = 100;

interface Requested {
  rowId: string;
  token: string;
  volumeId: string;
  /** The earlier attempt reached EC2: a snapshot carries the token. */
  madeInEc2: boolean;
}

/**
 * An ended reservation whose shutdown snapshot row an earlier attempt left `requested` ten minutes
 * ago (past EC2's consistency window); every other one of them did make its snapshot. The rows are
 * asked about in the order they were requested, so the first 100 go in the first call.
 */
async function seedRequested(): Promise<Requested[]> {
  const now = h.clock.now().getTime();
  const seeded: Requested[] = [];
  for (let i = 0; i < REQUESTED; i++) {
    const t = await seedTeardown(h, db);
    const requestedAt = new Date(now - 60 * 60_000 + i * 1000);
    const { rows } = await db.pool.query<{ id: string; request_token: string }>(
      `insert into snapshots (kind, reservation_id, volume_id, disk_id, user_id, disk_name, state, requested_at, updated_at)
       values ('shutdown', $1, $2, $3, $4, $5, 'requested', $6, $7) returning id::text, request_token::text`,
      [t.reservationId, t.volumeId, t.diskId, t.userId, t.diskName, requestedAt, new Date(now - 10 * 60_000)],
    );
    const { id: rowId, request_token: token } = rows[0]!;
    const madeInEc2 = i % 2 === 0;
    if (madeInEc2)
      h.aws.sim.addSnapshot({
        volumeId: t.volumeId,
        state: 'pending',
        tags: { 'gpu-dev-user': t.userId, disk_name: t.diskName, [REQUEST_TOKEN_TAG]: token },
      });
    seeded.push({ rowId, token, volumeId: t.volumeId, madeInEc2 });
  }
  h.aws.sim.clear();
  return seeded;
}

const isTokenLookup = (call: AwsCall) => call.params['Filter.1.Name'] === `tag:${REQUEST_TOKEN_TAG}`;
const tokenLookups = () => callsOf(h, 'DescribeSnapshots', isTokenLookup);
/** Each token lookup costs the run 8 s of its budget; nothing else costs anything. */
const tokenLookupsCost8s = (call: AwsCall) => (isTokenLookup(call) ? 8 : 0);

const snapshotsPerVolume = (seeded: Requested[]) =>
  seeded.map((row) => h.aws.sim.snapshots().filter((s) => s.volumeId === row.volumeId).length);

/** Every requested row now holds exactly one snapshot: the one the earlier attempt made, or a new one. */
async function expectEveryRowHasOneSnapshot(seeded: Requested[]) {
  expect(snapshotsPerVolume(seeded)).toEqual(seeded.map(() => 1));
  const { rows } = await db.pool.query<{ id: string; state: string; snapshot_id: string | null }>(
    `select id::text, state, snapshot_id from snapshots where id = any($1::bigint[]) order by snapshots.id`,
    [seeded.map((row) => row.rowId)],
  );
  const expected = seeded.map((row) => ({
    id: row.rowId,
    state: 'pending',
    snapshot_id: h.aws.sim.snapshots().find((s) => s.volumeId === row.volumeId)!.snapshotId,
  }));
  expect(rows).toEqual(expected);
  const recovered = seeded.filter((row) => row.madeInEc2);
  for (const row of recovered)
    expect(h.aws.sim.snapshots().find((s) => s.volumeId === row.volumeId)!.tags[REQUEST_TOKEN_TAG]).toBe(row.token);
}

it(
  'stops looking up request tokens at the deadline: the unread tokens make no second snapshot, and a later run recovers every row',
  async () => {
    const seeded = await seedRequested();
    const before = await syncState(db);

    // A 10 s budget stops at 8 s: the first lookup spends it, so the second (50 tokens) never starts.
    const slow = await runOnSlowEc2(h, 10, tokenLookupsCost8s);
    const [first, ...more] = tokenLookups();
    expect(more).toEqual([]);
    expect(listParam(first!, 'Filter.1.Value')).toEqual(seeded.slice(0, TOKENS_PER_CALL).map((row) => row.token));
    // No volume is read past the deadline either: 50 tokens and the 100 read rows' volumes are deferred.
    expect(callsOf(h, 'DescribeVolumes')).toEqual([]);
    expect(slow.summary).toMatchObject({ reads_deferred: 50 + 100, snapshots_created: 0 });
    // Nothing was planned on a missing answer: no action deferred, none made, no row or wait written.
    expect(slow.summary.deferred ?? 0).toBe(0);
    expect(slow.summary.snapshots_recovered ?? 0).toBe(0);
    expect(callsOf(h, 'CreateSnapshot')).toEqual([]);
    expect(callsOf(h, 'CreateTags')).toEqual([]);
    expect(snapshotsPerVolume(seeded)).toEqual(seeded.map((row) => (row.madeInEc2 ? 1 : 0)));
    expect(await syncState(db)).toEqual(before);

    // With time enough, the snapshots the earlier attempts made are found, and only the others made.
    h.aws.sim.clear();
    const later = await h.run();
    expect(tokenLookups()).toHaveLength(2);
    expect(later.summary).toMatchObject({ snapshots_recovered: 75, snapshots_created: 75 });
    expect(later.summary.reads_deferred).toBeUndefined();
    await expectEveryRowHasOneSnapshot(seeded);
  },
  SLOW_TEST_MS,
);

it(
  'does not stop a lookup with budget left: on the same slow EC2, every token is read and every row recovered in one run',
  async () => {
    const seeded = await seedRequested();

    // A 30 s budget stops at 24 s: both lookups (16 s) fit.
    const result = await runOnSlowEc2(h, 30, tokenLookupsCost8s);
    expect(tokenLookups().map((call) => listParam(call, 'Filter.1.Value'))).toEqual([
      seeded.slice(0, TOKENS_PER_CALL).map((row) => row.token),
      seeded.slice(TOKENS_PER_CALL).map((row) => row.token),
    ]);
    expect(callsOf(h, 'DescribeVolumes')).toHaveLength(1);
    expect(result.summary).toMatchObject({ snapshots_recovered: 75, snapshots_created: 75 });
    expect(result.summary.reads_deferred).toBeUndefined();
    expect(result.summary.deferred ?? 0).toBe(0);
    expect(callsOf(h, 'CreateSnapshot')).toHaveLength(75);
    await expectEveryRowHasOneSnapshot(seeded);
  },
  SLOW_TEST_MS,
);

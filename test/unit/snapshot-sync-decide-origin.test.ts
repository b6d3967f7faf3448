import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideOriginPending } from '../../functions/snapshot-sync/decide-origin.js';
import type { BackingUpDisk, KnownRow, OriginSnapshot } from '../../functions/snapshot-sync/decide-origin.js';

const now = new Date('2026-06-01T12:00:00Z');
const minutesAgo = (minutes: number) => new Date(now.getTime() - minutes * 60_000);

const disk = (overrides: Partial<BackingUpDisk> = {}): BackingUpDisk => ({
  diskId: 'd-1',
  userId: 'dev@example.com',
  diskName: 'home',
  volumeId: 'vol-1',
  pendingCount: 1,
  explained: 0,
  isBackingUp: true,
  ...overrides,
});
const originTags = {
  Name: 'gpu-dev-shutdown-dev-1',
  'gpu-dev-user': 'dev@example.com',
  'gpu-dev-snapshot-type': 'shutdown',
  SnapshotType: 'shutdown',
  disk_name: 'home',
};
const origin = (overrides: Partial<OriginSnapshot> = {}): OriginSnapshot => ({
  snapshotId: 'snap-1',
  volumeId: 'vol-1',
  state: 'pending',
  startTime: minutesAgo(30),
  sizeGb: 100,
  tags: originTags,
  description: 'gpu-dev shutdown snapshot for dev@example.com (disk: home) (1.2G)',
  ...overrides,
});
const decide = (d: BackingUpDisk, found: OriginSnapshot[], known: KnownRow[] = []) =>
  decideOriginPending([d], found, new Map(known.map((row) => [row.snapshotId, row])));

describe("snapshot-sync: the origin's pending snapshots after cut-over", () => {
  it.each(['pending', 'completed', 'error'])(
    "adopts the origin's %s snapshot of the disk's volume to account for its pending count",
    (state) => {
      expect(decide(disk(), [origin({ state })])).toEqual([
        expect.objectContaining({
          kind: 'reconcile',
          adopt: [expect.objectContaining({ snapshotId: 'snap-1' })],
          count: [],
          unexplainedAfter: 0,
        }),
      ]);
    },
  );

  it('takes the newest first and no more than the count nobody accounts for', () => {
    const found = [
      origin({ snapshotId: 'snap-old', startTime: minutesAgo(900), state: 'completed' }),
      origin({ snapshotId: 'snap-new', startTime: minutesAgo(10) }),
    ];
    const [action] = decide(disk({ pendingCount: 2, explained: 1 }), found);
    expect(action).toMatchObject({
      kind: 'reconcile',
      adopt: [expect.objectContaining({ snapshotId: 'snap-new' })],
      unexplainedAfter: 0,
    });
  });

  it.each<[string, Partial<OriginSnapshot>]>([
    ['another volume', { volumeId: 'vol-2' }],
    ["another user's tag", { tags: { ...originTags, 'gpu-dev-user': 'other@example.com' } }],
    ["another disk's tag", { tags: { ...originTags, disk_name: 'scratch' } }],
    ['our marker (ours are credited by polling)', { tags: { ...originTags, 'devenv-lifecycle/managed': 'true' } }],
    ["a description that is not the origin's", { description: 'nightly backup' }],
    [
      "the origin's description for another user",
      { description: 'gpu-dev shutdown snapshot for dev@example.com.evil (disk: home)' },
    ],
    ['no description', { description: '' }],
    ['a state that is not pending, completed or error', { state: 'recoverable' }],
  ])('does NOT count a snapshot with %s: the disk stays unexplained', (_label, overrides) => {
    expect(decide(disk(), [origin(overrides)])).toEqual([
      expect.objectContaining({ kind: 'unexplained', unexplained: 1 }),
    ]);
  });

  it("counts a pending row of ours for the origin's snapshot (adopted when the disk was soft-deleted) instead of adopting it twice", () => {
    const row: KnownRow = { rowId: '9', snapshotId: 'snap-1', diskId: 'd-1', state: 'pending', counted: false };
    expect(decide(disk(), [origin()], [row])).toEqual([
      expect.objectContaining({ kind: 'reconcile', adopt: [], count: [row] }),
    ]);
  });

  it('never takes a snapshot already in our table in another state', () => {
    const row: KnownRow = { rowId: '9', snapshotId: 'snap-1', diskId: 'd-1', state: 'completed', counted: false };
    expect(decide(disk(), [origin({ state: 'completed' })], [row])[0]?.kind).toBe('unexplained');
  });

  it('reports what it could not account for', () => {
    expect(decide(disk({ pendingCount: 3 }), [origin()])).toEqual([
      expect.objectContaining({ kind: 'reconcile', unexplainedAfter: 2 }),
    ]);
    expect(decide(disk({ volumeId: null }), [origin()])).toEqual([
      expect.objectContaining({ kind: 'unexplained', unexplained: 1 }),
    ]);
    expect(decide(disk({ pendingCount: 0 }), [])).toEqual([
      expect.objectContaining({ kind: 'unexplained', reason: expect.stringContaining('is_backing_up') }),
    ]);
  });

  it('reads the origin\'s description exactly: "gpu-dev <type> snapshot for <user>" then a space or the end', () => {
    const adopts = (description: string) => decide(disk(), [origin({ description })])[0]?.kind === 'reconcile';
    expect(adopts('gpu-dev shutdown snapshot for dev@example.com')).toBe(true);
    expect(adopts('gpu-dev manual snapshot for dev@example.com (disk: home)')).toBe(true);
    expect(adopts('xgpu-dev shutdown snapshot for dev@example.com')).toBe(false);
    expect(adopts('gpu-dev shutdown snapshot for dev@example.community')).toBe(false);
  });

  it("never accounts for more than the count nobody explains, and only with the origin's snapshots of the disk's volume (property)", () => {
    const snapArb = fc.record({
      volumeId: fc.constantFrom('vol-1', 'vol-2'),
      state: fc.constantFrom('pending', 'completed', 'error', 'recoverable'),
      minutes: fc.integer({ min: 0, max: 5000 }),
      user: fc.constantFrom('dev@example.com', 'other@example.com'),
      managed: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.array(snapArb, { maxLength: 8 }),
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 0, max: 4 }),
        (specs, pendingCount, explained) => {
          const found = specs.map((x, i) =>
            origin({
              snapshotId: `snap-${i}`,
              volumeId: x.volumeId,
              state: x.state,
              startTime: minutesAgo(x.minutes),
              tags: {
                ...originTags,
                'gpu-dev-user': x.user,
                ...(x.managed ? { 'devenv-lifecycle/managed': 'true' } : {}),
              },
              description: `gpu-dev shutdown snapshot for ${x.user} (disk: home)`,
            }),
          );
          const d = disk({ pendingCount, explained });
          for (const action of decide(d, found)) {
            if (action.kind !== 'reconcile') continue;
            expect(action.adopt.length + action.count.length).toBeLessThanOrEqual(
              Math.max(0, pendingCount - explained),
            );
            for (const s of action.adopt) {
              expect(s.volumeId).toBe('vol-1');
              // The origin's, naming this disk's user: never one of ours, never another user's.
              expect(s.tags['devenv-lifecycle/managed']).toBeUndefined();
              expect(s.tags['gpu-dev-user']).toBe(d.userId);
            }
          }
        },
      ),
    );
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decidePolls, decideShutdowns, decideVolumes } from '../../functions/snapshot-sync/decide.js';
import type {
  RequestedRow,
  ShutdownInput,
  ShutdownTarget,
  SnapshotSeen,
  VolumeCandidate,
  VolumeSeen,
} from '../../functions/snapshot-sync/decide.js';
import { shutdownTags } from '../../functions/snapshot-sync/tags.js';
import { ownershipOf, phaseOf } from '../../functions/snapshot-sync/volume-state.js';
import { overdueWaits } from '../../functions/snapshot-sync/decide-waits.js';
import type { AttachmentState, VolumeState } from '../../shared/aws/ec2-shapes.js';

const seenArb = fc.oneof(
  fc.record({
    kind: fc.constant('seen' as const),
    state: fc.constantFrom<VolumeState>('creating', 'available', 'in-use', 'deleting', 'deleted', 'error'),
    attachments: fc.array(fc.constantFrom<AttachmentState>('attaching', 'attached', 'detaching', 'detached', 'busy'), {
      maxLength: 2,
    }),
    tags: fc.constantFrom<Record<string, string>>(
      { 'gpu-dev-user': 'dev@example.com', disk_name: 'home' },
      { disk_name: 'home' },
      {},
      { 'gpu-dev-user': 'x@example.com' },
      { disk_name: 'other' },
    ),
  }),
  fc.constantFrom<VolumeSeen>({ kind: 'missing' }, { kind: 'unknown', error: 'x' }),
);

const now = new Date('2026-06-01T12:00:00Z');
const minutesAgo = (minutes: number) => new Date(now.getTime() - minutes * 60_000);

const target = (overrides: Partial<ShutdownTarget> = {}): ShutdownTarget => ({
  reservationId: 'r-1',
  userId: 'dev@example.com',
  diskName: 'home',
  diskId: 'd-1',
  volumeId: 'vol-1',
  heldBy: null,
  ...overrides,
});
const requested = (overrides: Partial<RequestedRow> = {}): RequestedRow => ({
  rowId: '7',
  requestToken: 'tok-1',
  updatedAt: minutesAgo(30),
  target: target(),
  ...overrides,
});
const snap = (overrides: Partial<SnapshotSeen> = {}): SnapshotSeen => ({
  snapshotId: 'snap-1',
  state: 'pending',
  startTime: minutesAgo(10),
  sizeGb: 100,
  tags: {},
  ...overrides,
});
const volumes = (entries: [string, VolumeSeen][]) => new Map(entries);
const ownTags = { 'gpu-dev-user': 'dev@example.com', disk_name: 'home' };
const vol = (
  state: VolumeState,
  attachments: AttachmentState[] = [],
  tags: Record<string, string> = ownTags,
): VolumeSeen => ({ kind: 'seen', state, attachments, tags });
const AVAILABLE = vol('available');
const ATTACHED = vol('in-use', ['attached']);

function shutdowns(overrides: Partial<ShutdownInput>) {
  return decideShutdowns({ now, fresh: [], requested: [], volumes: new Map(), byToken: new Map(), ...overrides });
}

describe('snapshot-sync: shutdown snapshots', () => {
  it.each<[string, VolumeSeen | undefined, string]>([
    ['a detached volume is snapshotted', AVAILABLE, 'create'],
    ['an attached volume waits for the next run', ATTACHED, 'wait'],
    ['a volume being created waits', vol('creating'), 'wait'],
    ['a volume being attached waits', vol('available', ['attaching']), 'wait'],
    ['a volume being detached waits', vol('in-use', ['detaching']), 'wait'],
    ['a volume being deleted waits until it is gone', vol('deleting'), 'wait'],
    ['a deleted volume is abandoned (nothing to snapshot)', vol('deleted'), 'abandon'],
    ['a volume in error waits (and escalates)', vol('error'), 'wait'],
    ['a volume EC2 does not know is abandoned (nothing to snapshot)', { kind: 'missing' }, 'abandon'],
    ['an unknown volume state waits', { kind: 'unknown', error: '503' }, 'wait'],
    ['a volume nobody asked about waits', undefined, 'wait'],
  ])('%s', (_label, seen, kind) => {
    const actions = shutdowns({ fresh: [target()], volumes: volumes(seen ? [['vol-1', seen]] : []) });
    expect(actions.map((a) => a.kind)).toEqual([kind]);
  });

  it('records the snapshot an earlier attempt created, found by its request token, instead of creating another', () => {
    const actions = shutdowns({
      requested: [requested()],
      volumes: volumes([['vol-1', AVAILABLE]]),
      byToken: new Map([
        ['tok-1', [snap({ snapshotId: 'snap-2', startTime: minutesAgo(5) }), snap({ snapshotId: 'snap-1' })]],
      ]),
    });
    expect(actions).toEqual([
      expect.objectContaining({
        kind: 'record',
        rowId: '7',
        duplicates: ['snap-2'],
        snapshot: expect.objectContaining({ snapshotId: 'snap-1' }),
      }),
    ]);
  });

  it.each<[string, number, VolumeSeen, string]>([
    ['a request made moments ago waits: EC2 may not list its snapshot yet', 2, AVAILABLE, 'wait'],
    ['an old request with no snapshot is made again on the same row', 30, AVAILABLE, 'create'],
    ['an old request whose volume is gone is abandoned', 30, { kind: 'missing' }, 'abandon'],
    ['an old request whose volume was attached again waits', 30, ATTACHED, 'wait'],
    ['an old request whose disk moved to another reservation is refused', 30, AVAILABLE, 'refuse'],
  ])('%s', (_label, minutes, seen, kind) => {
    const row = requested({
      updatedAt: minutesAgo(minutes),
      target: target({ heldBy: _label.includes('moved') ? 'r-2' : null }),
    });
    const [action] = shutdowns({ requested: [row], volumes: volumes([['vol-1', seen]]) });
    expect(action?.kind).toBe(kind);
    if (action?.kind === 'create') expect(action.requested).toBe(row);
    if (action?.kind === 'abandon' || action?.kind === 'refuse') expect(action.rowId).toBe('7');
  });

  it('refuses a snapshot for a reservation whose disk moved to another, whatever the volume says, and says why', () => {
    const actions = shutdowns({ fresh: [target({ heldBy: 'r-newer' })], volumes: volumes([['vol-1', AVAILABLE]]) });
    expect(actions).toEqual([
      expect.objectContaining({
        kind: 'refuse',
        cause: 'disk-moved',
        rowId: null,
        reason: expect.stringContaining('r-newer'),
      }),
    ]);
  });

  it.each<[string, Record<string, string>]>([
    ['no ownership tags', {}],
    ["another user's tag", { 'gpu-dev-user': 'other@example.com' }],
    ["another disk's tag", { 'gpu-dev-user': 'dev@example.com', disk_name: 'scratch' }],
  ])('refuses to snapshot (or wait on) a volume with %s', (_label, tags) => {
    for (const seen of [vol('available', [], tags), vol('in-use', ['attached'], tags)]) {
      expect(shutdowns({ fresh: [target()], volumes: volumes([['vol-1', seen]]) })).toEqual([
        expect.objectContaining({ kind: 'refuse', cause: 'not-owned' }),
      ]);
    }
  });

  it("accepts a volume tagged with the disk name only (the platform's volumes carry disk_name)", () => {
    expect(
      shutdowns({ fresh: [target()], volumes: volumes([['vol-1', vol('available', [], { disk_name: 'home' })]]) })[0]
        ?.kind,
    ).toBe('create');
  });

  it('escalates a volume in error at once, and tracks every other wait on EC2', () => {
    const [broken] = shutdowns({ fresh: [target()], volumes: volumes([['vol-1', vol('error')]]) });
    expect(broken).toMatchObject({ kind: 'wait', escalate: true });
    const [creating] = shutdowns({ fresh: [target()], volumes: volumes([['vol-1', vol('creating')]]) });
    expect(creating).toMatchObject({ kind: 'wait' });
    expect(creating).not.toMatchObject({ escalate: true });
    expect(creating).not.toMatchObject({ tracked: false });
  });

  it('creates a snapshot only of a detached volume whose tags name the disk, for a reservation that still holds it (property)', () => {
    fc.assert(
      fc.property(seenArb, fc.boolean(), (seen, moved) => {
        const t = target({ heldBy: moved ? 'r-2' : null });
        const created = shutdowns({ fresh: [t], volumes: volumes([['vol-1', seen]]) }).some((a) => a.kind === 'create');
        const detachedAndOurs =
          seen.kind === 'seen' &&
          seen.state === 'available' &&
          seen.attachments.every((a) => a === 'detached') &&
          ownershipOf(seen.tags, t).owned;
        expect(created).toBe(!moved && detachedAndOurs);
      }),
    );
  });

  it('tags the snapshot as the origin did, plus our marker and the request token', () => {
    const tags = shutdownTags({
      reservationId: 'r-1',
      userId: 'dev@example.com',
      diskName: 'home',
      requestToken: 'tok',
      now,
    });
    expect(tags).toEqual({
      Name: `gpu-dev-shutdown-dev-${now.getTime() / 1000}`,
      'gpu-dev-user': 'dev@example.com',
      'gpu-dev-snapshot-type': 'shutdown',
      SnapshotType: 'shutdown',
      created_at: String(now.getTime() / 1000),
      disk_name: 'home',
      'devenv-lifecycle/managed': 'true',
      'devenv-lifecycle/request-token': 'tok',
      'devenv-lifecycle/reservation-id': 'r-1',
    });
    expect(
      shutdownTags({ reservationId: 'r', userId: 'u', diskName: null, requestToken: 't', now }),
    ).not.toHaveProperty('disk_name');
  });
});

describe('snapshot-sync: polling pending snapshots', () => {
  const pending = [{ rowId: '1', snapshotId: 'snap-1', startedAt: minutesAgo(10) }];
  const poll = (seen: SnapshotSeen[], missing: string[] = [], startedAt = minutesAgo(10)) =>
    decidePolls({
      now,
      pending: [{ ...pending[0]!, startedAt }],
      seen: new Map(seen.map((s) => [s.snapshotId, s])),
      missing: new Set(missing),
    });

  it.each<[string, string, string[]]>([
    ['completed → complete', 'completed', ['complete']],
    ['error → fail', 'error', ['fail']],
    ['still pending → nothing', 'pending', []],
    ['recoverable (archive tier) → nothing', 'recoverable', []],
  ])('%s', (_label, state, kinds) => {
    expect(poll([snap({ state })]).map((a) => a.kind)).toEqual(kinds);
  });

  it('reads a missing id as evidence only after a few minutes (eventual consistency), and then only marks an error', () => {
    expect(poll([], ['snap-1'], minutesAgo(2))).toEqual([]);
    expect(poll([], ['snap-1'], minutesAgo(6))).toEqual([
      expect.objectContaining({ kind: 'fail', snapshotId: 'snap-1' }),
    ]);
  });

  it('does nothing for an id EC2 neither returned nor reported missing', () => {
    expect(poll([], [])).toEqual([]);
  });
});

describe('snapshot-sync: the volume after its snapshot', () => {
  const candidate = (overrides: Partial<VolumeCandidate> = {}): VolumeCandidate => ({
    rowId: '1',
    snapshotId: 'snap-1',
    volumeId: 'vol-1',
    reservationId: 'r-1',
    userId: 'dev@example.com',
    diskName: 'home',
    reservationEnded: true,
    superseded: false,
    diskKnown: true,
    heldByOther: false,
    ...overrides,
  });
  const judge = (c: VolumeCandidate, seen: VolumeSeen | undefined, enabled = true) =>
    decideVolumes([c], volumes(seen ? [['vol-1', seen]] : []), enabled).map((a) => a.kind);

  it.each<[string, Partial<VolumeCandidate>, VolumeSeen | undefined, string]>([
    ['completed snapshot, detached, nobody else → delete', {}, AVAILABLE, 'delete-volume'],
    ['the reservation has not ended → hold', { reservationEnded: false }, AVAILABLE, 'hold-volume'],
    ['already gone → gone', {}, { kind: 'missing' }, 'volume-gone'],
    ['EC2 lists it deleted → gone', {}, vol('deleted'), 'volume-gone'],
    ['being deleted → hold until it is gone (not kept for good)', {}, vol('deleting'), 'hold-volume'],
    ['in error → hold (escalated), neither deleted nor kept', {}, vol('error'), 'hold-volume'],
    ['being created → hold', {}, vol('creating'), 'hold-volume'],
    ['being attached → hold', {}, vol('available', ['attaching']), 'hold-volume'],
    ['being detached → hold', {}, vol('in-use', ['detaching']), 'hold-volume'],
    ['a detached attachment lingering in the list → delete', {}, vol('available', ['detached']), 'delete-volume'],
    ['no ownership tags → refuse', {}, vol('available', [], {}), 'refuse-volume'],
    [
      "another user's tags → refuse",
      {},
      vol('available', [], { 'gpu-dev-user': 'other@example.com', disk_name: 'home' }),
      'refuse-volume',
    ],
    ["another disk's tags → refuse", {}, vol('available', [], { disk_name: 'scratch' }), 'refuse-volume'],
    ['a newer reservation or snapshot uses it → keep', { superseded: true }, AVAILABLE, 'keep-volume'],
    ['no disk row to check the holder (A-12) → keep', { diskKnown: false }, AVAILABLE, 'keep-volume'],
    ['the disk is held by another reservation on this volume → keep', { heldByOther: true }, AVAILABLE, 'keep-volume'],
    ['attached again → keep', {}, ATTACHED, 'keep-volume'],
    ['state unknown → hold', {}, { kind: 'unknown', error: 'throttled' }, 'hold-volume'],
    ['not observed → hold', {}, undefined, 'hold-volume'],
  ])('%s', (_label, overrides, seen, kind) => {
    expect(judge(candidate(overrides), seen)).toEqual([kind]);
  });

  it('does nothing when deleting volumes after their snapshot is switched off', () => {
    expect(judge(candidate(), AVAILABLE, false)).toEqual([]);
  });

  it('deletes only with every piece of evidence present (property)', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        seenArb,
        (ended, superseded, known, held, seen) => {
          const c = candidate({ reservationEnded: ended, superseded, diskKnown: known, heldByOther: held });
          const deleted = judge(c, seen).includes('delete-volume');
          const provenDetachedAndOurs =
            seen.kind === 'seen' &&
            seen.state === 'available' &&
            seen.attachments.every((a) => a === 'detached') &&
            ownershipOf(seen.tags, c).owned;
          expect(deleted).toBe(ended && !superseded && known && !held && provenDetachedAndOurs);
        },
      ),
    );
  });
});

describe('snapshot-sync: bounded waits', () => {
  const wait = (minutes: number, escalatedAt: Date | null = null, escalateNow = false) => ({
    key: 'k',
    since: minutesAgo(minutes),
    escalatedAt,
    escalateNow,
  });

  it.each<[string, ReturnType<typeof wait>, { first: boolean } | undefined]>([
    ['a young wait is not overdue', wait(59), undefined],
    ['a wait past the bound is overdue, escalated the first time', wait(60), { first: true }],
    [
      'an escalated wait stays overdue (counted every run) but is not escalated again',
      wait(120, minutesAgo(30)),
      { first: false },
    ],
    ['a volume in error is overdue at once', wait(0, null, true), { first: true }],
  ])('%s', (_label, open, expected) => {
    const [overdue] = overdueWaits([open], now, 60);
    if (expected) expect(overdue).toMatchObject(expected);
    else expect(overdue).toBeUndefined();
  });
});

describe('snapshot-sync: EC2 volume states', () => {
  it.each<[VolumeSeen | undefined, string]>([
    [vol('available'), 'detached'],
    [vol('available', ['detached']), 'detached'],
    [vol('available', ['attaching']), 'transient'],
    [vol('in-use', ['attached']), 'attached'],
    [vol('in-use', ['busy']), 'attached'],
    [vol('in-use', []), 'attached'],
    [vol('in-use', ['detaching']), 'transient'],
    [vol('in-use', ['attaching']), 'transient'],
    [vol('creating'), 'transient'],
    [vol('deleting'), 'going'],
    [vol('deleted'), 'gone'],
    [vol('error'), 'broken'],
    [{ kind: 'missing' }, 'gone'],
    [{ kind: 'unknown', error: 'RequestLimitExceeded' }, 'unknown'],
    [undefined, 'unknown'],
  ])('%j is %s', (seen, phase) => {
    expect(phaseOf(seen).phase).toBe(phase);
  });
});

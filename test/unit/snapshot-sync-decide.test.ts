import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decidePolls, decideShutdowns, decideVolumes } from '../../functions/snapshot-sync/decide.js';
import type { RequestedRow, ShutdownInput, ShutdownTarget, SnapshotSeen, VolumeCandidate, VolumeSeen } from '../../functions/snapshot-sync/decide.js';
import { shutdownTags } from '../../functions/snapshot-sync/tags.js';

const now = new Date('2026-06-01T12:00:00Z');
const minutesAgo = (minutes: number) => new Date(now.getTime() - minutes * 60_000);

const target = (overrides: Partial<ShutdownTarget> = {}): ShutdownTarget => ({
  reservationId: 'r-1', userId: 'dev@example.com', diskName: 'home', diskId: 'd-1', volumeId: 'vol-1', ...overrides,
});
const requested = (overrides: Partial<RequestedRow> = {}): RequestedRow => ({
  rowId: '7', requestToken: 'tok-1', updatedAt: minutesAgo(30), target: target(), ...overrides,
});
const snap = (overrides: Partial<SnapshotSeen> = {}): SnapshotSeen => ({
  snapshotId: 'snap-1', state: 'pending', startTime: minutesAgo(10), sizeGb: 100, tags: {}, ...overrides,
});
const volumes = (entries: [string, VolumeSeen][]) => new Map(entries);

function shutdowns(overrides: Partial<ShutdownInput>) {
  return decideShutdowns({ now, fresh: [], requested: [], volumes: new Map(), byToken: new Map(), ...overrides });
}

describe('snapshot-sync: shutdown snapshots', () => {
  it.each<[string, VolumeSeen | undefined, string]>([
    ['a detached volume is snapshotted', { kind: 'available' }, 'create'],
    ['an attached volume waits for the next run', { kind: 'busy', state: 'attached' }, 'wait'],
    ['a volume in another state waits', { kind: 'busy', state: 'creating' }, 'wait'],
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
      volumes: volumes([['vol-1', { kind: 'available' }]]),
      byToken: new Map([['tok-1', [snap({ snapshotId: 'snap-2', startTime: minutesAgo(5) }), snap({ snapshotId: 'snap-1' })]]]),
    });
    expect(actions).toEqual([expect.objectContaining({ kind: 'record', rowId: '7', duplicates: ['snap-2'], snapshot: expect.objectContaining({ snapshotId: 'snap-1' }) })]);
  });

  it.each<[string, number, VolumeSeen, string]>([
    ['a request made moments ago waits: EC2 may not list its snapshot yet', 2, { kind: 'available' }, 'wait'],
    ['an old request with no snapshot is made again on the same row', 30, { kind: 'available' }, 'create'],
    ['an old request whose volume is gone is abandoned', 30, { kind: 'missing' }, 'abandon'],
    ['an old request whose volume was attached again waits', 30, { kind: 'busy', state: 'attached' }, 'wait'],
  ])('%s', (_label, minutes, seen, kind) => {
    const row = requested({ updatedAt: minutesAgo(minutes) });
    const [action] = shutdowns({ requested: [row], volumes: volumes([['vol-1', seen]]) });
    expect(action?.kind).toBe(kind);
    if (action?.kind === 'create') expect(action.requested).toBe(row);
    if (action?.kind === 'abandon') expect(action.rowId).toBe('7');
  });

  it('tags the snapshot as the origin did, plus our marker and the request token', () => {
    const tags = shutdownTags({ reservationId: 'r-1', userId: 'dev@example.com', diskName: 'home', requestToken: 'tok', now });
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
    expect(shutdownTags({ reservationId: 'r', userId: 'u', diskName: null, requestToken: 't', now })).not.toHaveProperty('disk_name');
  });
});

describe('snapshot-sync: polling pending snapshots', () => {
  const pending = [{ rowId: '1', snapshotId: 'snap-1', startedAt: minutesAgo(10) }];
  const poll = (seen: SnapshotSeen[], missing: string[] = [], startedAt = minutesAgo(10)) =>
    decidePolls({ now, pending: [{ ...pending[0]!, startedAt }], seen: new Map(seen.map((s) => [s.snapshotId, s])), missing: new Set(missing) });

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
    expect(poll([], ['snap-1'], minutesAgo(6))).toEqual([expect.objectContaining({ kind: 'fail', snapshotId: 'snap-1' })]);
  });

  it('does nothing for an id EC2 neither returned nor reported missing', () => {
    expect(poll([], [])).toEqual([]);
  });
});

describe('snapshot-sync: the volume after its snapshot', () => {
  const candidate = (overrides: Partial<VolumeCandidate> = {}): VolumeCandidate => ({
    rowId: '1', snapshotId: 'snap-1', volumeId: 'vol-1', reservationId: 'r-1',
    reservationEnded: true, superseded: false, diskKnown: true, heldByOther: false, ...overrides,
  });
  const judge = (c: VolumeCandidate, seen: VolumeSeen | undefined, enabled = true) =>
    decideVolumes([c], volumes(seen ? [['vol-1', seen]] : []), enabled).map((a) => a.kind);

  it.each<[string, Partial<VolumeCandidate>, VolumeSeen | undefined, string]>([
    ['completed snapshot, detached, nobody else → delete', {}, { kind: 'available' }, 'delete-volume'],
    ['the reservation has not ended → hold', { reservationEnded: false }, { kind: 'available' }, 'hold-volume'],
    ['already gone → gone', {}, { kind: 'missing' }, 'volume-gone'],
    ['a newer reservation or snapshot uses it → keep', { superseded: true }, { kind: 'available' }, 'keep-volume'],
    ['no disk row to check the holder (A-12) → keep', { diskKnown: false }, { kind: 'available' }, 'keep-volume'],
    ['the disk is held by another reservation on this volume → keep', { heldByOther: true }, { kind: 'available' }, 'keep-volume'],
    ['attached again → keep', {}, { kind: 'busy', state: 'attached' }, 'keep-volume'],
    ['state unknown → hold', {}, { kind: 'unknown', error: 'throttled' }, 'hold-volume'],
    ['not observed → hold', {}, undefined, 'hold-volume'],
  ])('%s', (_label, overrides, seen, kind) => {
    expect(judge(candidate(overrides), seen)).toEqual([kind]);
  });

  it('does nothing when deleting volumes after their snapshot is switched off', () => {
    expect(judge(candidate(), { kind: 'available' }, false)).toEqual([]);
  });

  it('deletes only with every piece of evidence present (property)', () => {
    const seenArb = fc.constantFrom<VolumeSeen>({ kind: 'available' }, { kind: 'busy', state: 'attached' }, { kind: 'missing' }, { kind: 'unknown', error: 'x' });
    fc.assert(fc.property(fc.boolean(), fc.boolean(), fc.boolean(), fc.boolean(), seenArb, (ended, superseded, known, held, seen) => {
      const c = candidate({ reservationEnded: ended, superseded, diskKnown: known, heldByOther: held });
      const deleted = judge(c, seen).includes('delete-volume');
      expect(deleted).toBe(ended && !superseded && known && !held && seen.kind === 'available');
    }));
  });
});

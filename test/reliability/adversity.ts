/*
 * Generated fleets: fast-check draws reservations, labs and outages in the situations that hurt
 * real clusters (issue 14): ids at the limits of what the database accepts, pod names shared by
 * several reservations, disks that moved to a user's newer reservation, namespaces that do not
 * exist, long outages per route and per namespace. The draw is resolved into a consistent fleet
 * (one pod per name, one holder per disk), so every expectation the invariants check follows from
 * the fleet alone. A pod can only carry a valid label value, so a reservation whose id is not one
 * never has a pod of its own: its pod_name, if anything, names another reservation's pod.
 */
import fc from 'fast-check';

export const GOOD_NS = 'gpu-dev';
export const SECOND_NS = 'gpu-dev-b';
export const MISSING_NS = 'gpu-dev-gone';
export const LAB_NS = 'octolab-labs';

/**
 * live: active, its pod running, its deadline a day away. expiring: its deadline passes during the
 * run. vanished / dead: its pod is deleted behind our back / evicted at `blowRound`. ended: already
 * expired, its teardown still to do. newer: a user's newer reservation holding the disk an ended
 * one still names. missing-ns: active in a namespace the cluster does not have.
 */
export type Kind = 'live' | 'expiring' | 'vanished' | 'dead' | 'ended' | 'newer' | 'missing-ns';

export type Adversity =
  | 'id-long'
  | 'id-at-255'
  | 'id-quote'
  | 'id-space'
  | 'id-dollar'
  | 'id-newline'
  | 'id-unicode'
  | 'id-selector-syntax'
  | 'id-label-limit-63'
  | 'id-not-a-label'
  | 'shared-prefix'
  | 'reused-pod-name'
  | 'pod-name-of-live'
  | 'disk-moved'
  | 'missing-namespace'
  | 'outage-namespace'
  | 'outage-pod-route'
  | 'outage-pod-list'
  | 'outage-lab-namespace'
  | 'outage-ec2-describe'
  | 'outage-ec2-snapshot'
  | 'outage-delete-timeout'
  | `volume-${VolumeCondition}`;

/**
 * The EC2 state of an ended reservation's own volume. creating, in-use (a detach that hangs with no
 * pod), attaching and detaching hold until `until`, then the volume is `available`; deleting holds
 * until `until`, then the volume is `deleted`; deleted and error stay. Volumes whose pod goes away pass through `detaching` anyway (the
 * simulator's detach takes two minutes on the clock).
 */
export type VolumeCondition =
  'available' | 'creating' | 'in-use' | 'attaching' | 'detaching' | 'deleting' | 'deleted' | 'error';
export const PASSING_CONDITIONS: VolumeCondition[] = ['creating', 'in-use', 'attaching', 'detaching', 'deleting'];

export interface GenReservation {
  id: string;
  kind: Kind;
  namespace: string;
  podName: string | null;
  /** The pod named podName exists and is labelled with this reservation. */
  ownPod: boolean;
  volumeId: string | null;
  userId: string;
  diskName: string;
  /** Who holds the disk: this reservation, a newer one of the same user, or nobody. */
  diskHolder: string | null;
  expiresInMinutes: number;
  blowRound?: number;
  volume?: { condition: VolumeCondition; until: number };
  adversity: Adversity[];
}

export interface GenLab {
  id: string;
  role: 'ending' | 'live';
  pods: string[];
  port: number;
  adversity: Adversity[];
}

export interface Outage {
  kind: Extract<Adversity, `outage-${string}`>;
  /** A route rule (regular expression on path and query) or an EC2 action. */
  path?: RegExp;
  action?: string;
  /** A status to answer, or 0: the answer is held past the client's timeout, once. */
  status: number;
  method?: string;
  from: number;
  to: number;
}

export interface GeneratedFleet {
  reservations: GenReservation[];
  labs: GenLab[];
  outages: Outage[];
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
export const isLabelValue = (id: string): boolean => id.length <= 63 && LABEL_VALUE.test(id);

const WEIRD: [string, Adversity][] = [
  ["'", 'id-quote'],
  ['"', 'id-quote'],
  [' ', 'id-space'],
  ['$', 'id-dollar'],
  ['\n', 'id-newline'],
  ['é', 'id-unicode'],
  ['漢', 'id-unicode'],
  ['🚀', 'id-unicode'],
  [',', 'id-selector-syntax'],
  ['(', 'id-selector-syntax'],
  ['!', 'id-selector-syntax'],
  ['=', 'id-selector-syntax'],
  ['\\', 'id-quote'],
  ['`', 'id-quote'],
  [';', 'id-dollar'],
];

type Tail = { text: string; adversity: Adversity[] };

/** What follows the 8-character prefix: ordinary, weird characters, or lengths at the limits. */
const tailArb: fc.Arbitrary<Tail> = fc.oneof(
  { weight: 3, arbitrary: fc.uuid().map((u) => ({ text: u.slice(8), adversity: [] as Adversity[] })) },
  {
    weight: 3,
    arbitrary: fc.array(fc.integer({ min: 0, max: WEIRD.length - 1 }), { minLength: 1, maxLength: 6 }).chain((picks) =>
      fc.stringMatching(/^[a-z0-9]{1,6}$/).map((word) => ({
        text: `-${word}${picks.map((i) => WEIRD[i]![0]).join('')}${word}`,
        adversity: [...new Set(picks.map((i) => WEIRD[i]![1]))],
      })),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(55, 56, 120, 247).map((n) => ({
      text: 'x'.repeat(n - 1) + 'z',
      adversity:
        n === 247
          ? (['id-long', 'id-at-255'] as Adversity[])
          : n === 55
            ? (['id-label-limit-63'] as Adversity[])
            : (['id-long'] as Adversity[]),
    })),
  },
);

const draftArb = fc.record({
  kind: fc.constantFrom<Kind>('live', 'live', 'expiring', 'vanished', 'dead', 'ended', 'ended', 'missing-ns'),
  prefix: fc.nat({ max: 3 }),
  tail: tailArb,
  second: fc.nat({ max: 3 }).map((n) => n === 0),
  movedDisk: fc.boolean(),
  minutes: fc.integer({ min: 3, max: 14 }),
  blowRound: fc.integer({ min: 1, max: 4 }),
  volume: fc.constantFrom<VolumeCondition>(
    'available',
    'creating',
    'in-use',
    'attaching',
    'detaching',
    'deleting',
    'deleted',
    'error',
  ),
  volumeUntil: fc.integer({ min: 2, max: 8 }),
});

const outageArb = fc.record({
  kind: fc.constantFrom<Outage['kind']>(
    'outage-namespace',
    'outage-pod-route',
    'outage-pod-list',
    'outage-lab-namespace',
    'outage-ec2-describe',
    'outage-ec2-snapshot',
    'outage-delete-timeout',
  ),
  from: fc.integer({ min: 1, max: 3 }),
  length: fc.integer({ min: 3, max: 7 }),
  status: fc.constantFrom(500, 503),
  pick: fc.nat(),
});

export const fleetDraftArb = fc.record({
  prefixes: fc.uniqueArray(fc.stringMatching(/^[a-z0-9]{8}$/), { minLength: 4, maxLength: 4 }),
  drafts: fc.array(draftArb, { minLength: 10, maxLength: 14 }),
  outages: fc.array(outageArb, { minLength: 2, maxLength: 4 }),
  labOutage: fc.boolean(),
});

export type FleetDraft = typeof fleetDraftArb extends fc.Arbitrary<infer T> ? T : never;

const volumeIdFor = (n: number) => `vol-${(0xa000 + n).toString(16).padStart(17, '0')}`;
const NEEDS_POD: Kind[] = ['live', 'vanished', 'dead', 'newer'];

/** Resolves a draft into a consistent fleet: one pod per name, one holder per disk, unique ids. */
export function resolveFleet(draft: FleetDraft, rounds: number): GeneratedFleet {
  const reservations: GenReservation[] = [];
  const podOwner = new Map<string, string>();
  const ids = new Set<string>();
  for (const [i, d] of draft.drafts.entries()) {
    let id = `${draft.prefixes[d.prefix]!}${d.tail.text}`;
    while (ids.has(id)) id = `${id.slice(0, 250)}-${i}`;
    ids.add(id);
    const adversity = [...d.tail.adversity];
    const podName = `gpu-dev-${id.slice(0, 8)}`;
    const namespace = d.kind === 'missing-ns' ? MISSING_NS : d.second ? SECOND_NS : GOOD_NS;
    if (d.kind === 'missing-ns') adversity.push('missing-namespace');
    const nameKey = `${namespace}/${podName}`;
    const taken = podOwner.has(nameKey);
    // A second reservation under a name already in use, or one whose id cannot be a label, has no pod of its own.
    let kind = d.kind;
    const moved = d.kind === 'ended' && d.movedDisk;
    // The pod of an ended reservation whose disk moved on is long gone; its name may be another's now.
    const ownPod = d.kind !== 'missing-ns' && !moved && !taken && isLabelValue(id);
    if (!ownPod && NEEDS_POD.includes(kind)) kind = d.movedDisk ? 'ended' : 'expiring';
    if (ownPod) podOwner.set(nameKey, id);
    if (!isLabelValue(id)) adversity.push('id-not-a-label');
    const owner = taken ? reservations.find((o) => o.id === podOwner.get(nameKey)) : undefined;
    // Both sides carry the adversity: the owner is the one a wrong delete would hurt.
    for (const side of owner ? [adversity, owner.adversity] : [])
      side.push('reused-pod-name', ...(owner?.kind === 'live' ? ['pod-name-of-live' as const] : []));
    if (draft.drafts.some((o, j) => j !== i && o.prefix === d.prefix)) adversity.push('shared-prefix');
    const serial = i + 1;
    const r: GenReservation = {
      id,
      kind,
      namespace,
      podName,
      ownPod,
      volumeId: ownPod || kind === 'ended' ? volumeIdFor(serial) : null,
      userId: `user-${serial}@example.com`,
      diskName: `home-${serial}`,
      diskHolder: id,
      expiresInMinutes: kind === 'expiring' ? d.minutes : 24 * 60,
      adversity,
      ...((kind === 'vanished' || kind === 'dead') && { blowRound: Math.min(d.blowRound, rounds) }),
    };
    // Only a volume no pod holds can be put in any state without contradicting the cluster.
    if (kind === 'ended' && !ownPod && !d.movedDisk) {
      r.volume = { condition: d.volume, until: Math.min(d.volumeUntil, rounds - 1) };
      if (d.volume !== 'available') adversity.push(`volume-${d.volume}`);
    }
    reservations.push(r);
    if (kind === 'ended' && d.movedDisk) reservations.push(moveDisk(r, serial));
  }
  const outages = resolveOutages(draft, reservations, rounds);
  const labs = labsFor(draft);
  for (const lab of labs)
    if (outages.some((o) => o.kind === 'outage-lab-namespace')) lab.adversity.push('outage-lab-namespace');
  return { reservations, labs, outages };
}

/** The user's newer reservation takes over the disk (and its volume) the ended one still names. */
function moveDisk(ended: GenReservation, serial: number): GenReservation {
  const id = `n${String(serial).padStart(7, '0')}-newer`;
  ended.diskHolder = id;
  ended.adversity.push('disk-moved');
  return {
    id,
    kind: 'newer',
    namespace: GOOD_NS,
    podName: `gpu-dev-${id.slice(0, 8)}`,
    ownPod: true,
    volumeId: ended.volumeId,
    userId: ended.userId,
    diskName: ended.diskName,
    diskHolder: id,
    expiresInMinutes: 24 * 60,
    adversity: ['disk-moved'],
  };
}

function labsFor(draft: FleetDraft): GenLab[] {
  const id = (n: number) => `${draft.prefixes[n]!.replace(/[^0-9a-f]/g, 'a')}-0000-4000-8000-00000000000${n}`;
  return (['ending', 'live'] as const).map((role, n) => ({
    id: id(n),
    role,
    pods: [0, 1].map((p) => `lab-${id(n).slice(0, 8)}-${p}`),
    port: 7000 + n,
    adversity: [],
  }));
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function resolveOutages(draft: FleetDraft, reservations: GenReservation[], rounds: number): Outage[] {
  const withPod = reservations.filter((r) => r.ownPod);
  const outages: Outage[] = draft.outages.map((o) => {
    const window = { from: o.from, to: Math.min(rounds, o.from + o.length - 1), status: o.status };
    switch (o.kind) {
      case 'outage-namespace':
        return { kind: o.kind, path: new RegExp(`^/api/v1/namespaces/${SECOND_NS}/`), ...window };
      case 'outage-pod-route': {
        const target = withPod[o.pick % Math.max(1, withPod.length)];
        return {
          kind: o.kind,
          path: new RegExp(
            `^/api/v1/namespaces/${target?.namespace ?? GOOD_NS}/pods/${escape(target?.podName ?? 'none')}(/|\\?|$)`,
          ),
          ...window,
        };
      }
      case 'outage-pod-list':
        return { kind: o.kind, path: new RegExp(`^/api/v1/namespaces/${GOOD_NS}/pods\\?`), ...window };
      case 'outage-lab-namespace':
        return { kind: o.kind, path: new RegExp(`^/api/v1/namespaces/${LAB_NS}/`), ...window };
      case 'outage-ec2-describe':
        return { kind: o.kind, action: 'DescribeVolumes', ...window };
      case 'outage-ec2-snapshot':
        return { kind: o.kind, action: 'CreateSnapshot', ...window };
      case 'outage-delete-timeout': {
        // The graceful delete of an ended reservation's pod whose answer is lost: it happens, the caller times out.
        const ended = reservations.filter((r) => r.kind === 'ended' && r.ownPod);
        const target = ended[o.pick % Math.max(1, ended.length)];
        target?.adversity.push(o.kind);
        return {
          kind: o.kind,
          method: 'DELETE',
          path: new RegExp(
            `^/api/v1/namespaces/${target?.namespace ?? GOOD_NS}/pods/${escape(target?.podName ?? 'none')}\\?`,
          ),
          status: 0,
          from: 1,
          to: 1,
        };
      }
    }
  });
  if (draft.labOutage && !outages.some((o) => o.kind === 'outage-lab-namespace')) {
    outages.push({
      kind: 'outage-lab-namespace',
      path: new RegExp(`^/api/v1/namespaces/${LAB_NS}/`),
      status: 500,
      from: 1,
      to: rounds,
    });
  }
  return outages;
}

/** Every adversity the fleet carries, counted. */
export function adversityOf(fleet: GeneratedFleet): Record<string, number> {
  const counts: Record<string, number> = {};
  const add = (kind: string) => void (counts[kind] = (counts[kind] ?? 0) + 1);
  for (const r of fleet.reservations) for (const kind of new Set(r.adversity)) add(kind);
  for (const o of fleet.outages) add(o.kind);
  return counts;
}

/** What the entity (reservation or lab) of a violation was put through. */
export function adversityOfEntity(fleet: GeneratedFleet, id: string): Adversity[] {
  return [
    ...(fleet.reservations.find((r) => r.id === id)?.adversity ?? []),
    ...(fleet.labs.find((l) => l.id === id)?.adversity ?? []),
  ];
}

/** Every kind of adversity the generator can draw. */
export const ALL_ADVERSITY: Adversity[] = [
  'id-long',
  'id-at-255',
  'id-quote',
  'id-space',
  'id-dollar',
  'id-newline',
  'id-unicode',
  'id-selector-syntax',
  'id-label-limit-63',
  'id-not-a-label',
  'shared-prefix',
  'reused-pod-name',
  'pod-name-of-live',
  'disk-moved',
  'missing-namespace',
  'outage-namespace',
  'outage-pod-route',
  'outage-pod-list',
  'outage-lab-namespace',
  'outage-ec2-describe',
  'outage-ec2-snapshot',
  'outage-delete-timeout',
  'volume-creating',
  'volume-in-use',
  'volume-attaching',
  'volume-detaching',
  'volume-deleting',
  'volume-deleted',
  'volume-error',
];

/** The fleet of one seed: fast-check's generator, replayed exactly by the seed. */
export function generateFleet(seed: number, rounds: number): GeneratedFleet {
  const [draft] = fc.sample(fleetDraftArb, { seed, numRuns: 1 });
  return resolveFleet(draft!, rounds);
}

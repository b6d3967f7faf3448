import { describe, expect, it } from 'vitest';
import { decideKills, oomNoticeContent, scanOrder, showsOomKill } from '../../functions/oom-scan/decide.js';
import type { ReservationPodRow } from '../../functions/oom-scan/decide.js';
import type { ContainerSummary, PodSummary } from '../../shared/kube/pod-health.js';

const finishedAt = new Date('2026-06-01T11:58:00Z');
const pod = (containers: ContainerSummary[], uid = 'uid-1'): PodSummary => ({
  name: 'gpu-dev-r1',
  namespace: 'gpu-dev',
  uid,
  phase: 'Running',
  deleting: false,
  conditions: [],
  containers,
  labels: { 'reservation-id': 'r1' },
});
const R1: ReservationPodRow = { reservation_id: 'r1', pod_name: 'gpu-dev-r1', namespace: 'gpu-dev' };
/** The kills decide would record from a page of these pods, with these active reservations. */
const findOomKills = (killed: PodSummary[], reservations: ReservationPodRow[] = [R1]) =>
  decideKills({
    detectedBy: 'scan',
    killed,
    reservations,
    recorded: new Set(),
    counts: {},
    policy: { reservationLabel: 'reservation-id', reservationNamespace: 'gpu-dev' },
  }).actions.map((action) => action.kill);

describe('the kills of a page', () => {
  it('finds a kill in the last state after a restart', () => {
    const kills = findOomKills([
      pod([
        {
          name: 'gpu-dev',
          running: true,
          restartCount: 1,
          lastTerminated: { reason: 'OOMKilled', exitCode: 137, finishedAt },
        },
      ]),
    ]);
    expect(kills).toEqual([
      {
        reservationId: 'r1',
        podUid: 'uid-1',
        podName: 'gpu-dev-r1',
        namespace: 'gpu-dev',
        container: 'gpu-dev',
        ordinal: 1,
        finishedAt,
      },
    ]);
  });

  it('gives the same identity to a kill seen before and after the restart', () => {
    const down = findOomKills([
      pod([{ name: 'gpu-dev', running: false, restartCount: 2, terminated: { reason: 'OOMKilled', finishedAt } }]),
    ]);
    const up = findOomKills([
      pod([{ name: 'gpu-dev', running: true, restartCount: 3, lastTerminated: { reason: 'OOMKilled', finishedAt } }]),
    ]);
    expect(down[0]!.ordinal).toBe(up[0]!.ordinal);
  });

  it('finds kills in several containers, and ignores other terminations', () => {
    const kills = findOomKills([
      pod([
        { name: 'a', running: true, restartCount: 1, lastTerminated: { reason: 'OOMKilled' } },
        { name: 'b', running: true, restartCount: 4, lastTerminated: { reason: 'OOMKilled' } },
        { name: 'c', running: true, restartCount: 1, lastTerminated: { reason: 'Error', exitCode: 1 } },
        { name: 'd', running: true, restartCount: 0 },
      ]),
    ]);
    expect(kills.map((k) => [k.container, k.ordinal])).toEqual([
      ['a', 1],
      ['b', 4],
    ]);
  });

  it('skips pods without a reservation', () => {
    expect(
      findOomKills([pod([{ name: 'x', running: true, restartCount: 1, lastTerminated: { reason: 'OOMKilled' } }])], []),
    ).toEqual([]);
  });

  it('writes a notice with the container, the time, the count and advice', () => {
    const text = oomNoticeContent({ container: 'gpu-dev', finishedAt, oomCount: 3 }, new Date('2026-06-01T12:00:00Z'));
    expect(text).toContain('Container:        gpu-dev');
    expect(text).toContain('Killed at:        2026-06-01 11:58:00 UTC');
    expect(text).toContain('OOM kills so far: 3');
    expect(text).toMatch(/reduce batch sizes/);
  });
});

describe('which reservation a killed pod belongs to', () => {
  const rows = [
    { reservation_id: 'r1', pod_name: 'gpu-dev-r1', namespace: 'gpu-dev' },
    { reservation_id: 'r2', pod_name: 'gpu-dev-r2', namespace: null },
    { reservation_id: 'r3', pod_name: 'shared-name', namespace: 'other' },
  ];
  const match = (killed: PodSummary) => findOomKills([killed], rows)[0]?.reservationId;
  const at = (name: string, namespace: string, labels?: Record<string, string>): PodSummary => ({
    ...pod([{ name: 'gpu-dev', running: true, restartCount: 1, lastTerminated: { reason: 'OOMKilled' } }]),
    name,
    namespace,
    ...(labels ? { labels } : { labels: undefined }),
  });

  it('matches a labelled pod to the row its label names, when the name and namespace agree', () => {
    expect(match(at('gpu-dev-r1', 'gpu-dev', { 'reservation-id': 'r1' }))).toBe('r1');
    expect(match(at('gpu-dev-r2', 'gpu-dev', { 'reservation-id': 'r2' }))).toBe('r2'); // no namespace: the default one
    expect(match(at('gpu-dev-r2', 'gpu-dev', { 'reservation-id': 'r1' }))).toBeUndefined(); // label names another pod's row
    expect(match(at('gpu-dev-r1', 'elsewhere', { 'reservation-id': 'r1' }))).toBeUndefined();
  });

  it('matches an unlabelled pod by name and namespace only', () => {
    expect(match(at('shared-name', 'other'))).toBe('r3');
    expect(match(at('shared-name', 'gpu-dev'))).toBeUndefined();
  });
});

describe('showsOomKill', () => {
  it('is true only for a pod with a uid whose container was OOM killed, now or last time', () => {
    expect(
      showsOomKill(pod([{ name: 'a', running: true, restartCount: 1, lastTerminated: { reason: 'OOMKilled' } }])),
    ).toBe(true);
    expect(
      showsOomKill(pod([{ name: 'a', running: false, restartCount: 0, terminated: { reason: 'OOMKilled' } }])),
    ).toBe(true);
    expect(
      showsOomKill(pod([{ name: 'a', running: true, restartCount: 1, lastTerminated: { reason: 'Error' } }])),
    ).toBe(false);
    expect(
      showsOomKill(pod([{ name: 'a', running: true, restartCount: 1, lastTerminated: { reason: 'OOMKilled' } }], '')),
    ).toBe(false);
  });
});

describe('scanOrder: where a scan run reads from its cursor', () => {
  const namespaces = ['gpu-dev', 'alpha', 'team-b'];
  it.each([
    [
      'no cursor: a new pass from the first namespace',
      undefined,
      [{ namespace: 'alpha' }, { namespace: 'gpu-dev' }, { namespace: 'team-b' }],
    ],
    [
      'the start of the next pass (the empty name)',
      { namespace: '', continueToken: undefined },
      [{ namespace: 'alpha' }, { namespace: 'gpu-dev' }, { namespace: 'team-b' }],
    ],
    [
      'mid-namespace: its token, then the later ones',
      { namespace: 'gpu-dev', continueToken: 't1' },
      [{ namespace: 'gpu-dev', continueToken: 't1' }, { namespace: 'team-b' }],
    ],
    [
      'a namespace gone: the next one, from its start',
      { namespace: 'beta', continueToken: 't1' },
      [{ namespace: 'gpu-dev' }, { namespace: 'team-b' }],
    ],
    [
      'past the last namespace: a new pass',
      { namespace: 'zeta', continueToken: undefined },
      [{ namespace: 'alpha' }, { namespace: 'gpu-dev' }, { namespace: 'team-b' }],
    ],
  ])('%s', (_name, cursor, expected) => {
    expect(scanOrder(namespaces, cursor)).toEqual(expected);
  });
});

import { describe, expect, it } from 'vitest';
import { NotFound, Transient } from '../../shared/errors.js';
import type { PodSummary } from '../../shared/kube/pod-health.js';
import type { PodReader } from '../../shared/kube/pods.js';
import { podVerdict } from '../../functions/warn/decide.js';
import { podEvidence as observePods } from '../../shared/kube/pod-evidence.js';

const pod = (name: string): PodSummary => ({
  name,
  namespace: 'gpu-dev',
  uid: `uid-${name}`,
  phase: 'Running',
  deleting: false,
  conditions: [],
  containers: [],
});

// A narrow in-memory reader: this file tests the evidence rules, not the Kubernetes client.
function reader(options: {
  labelled?: Record<string, PodSummary>;
  byName?: Record<string, PodSummary | 'absent' | Error>;
  listError?: Error;
  failedIds?: string[];
}): PodReader & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    listReservationPods: async () => ({ pods: Object.values(options.labelled ?? {}) }),
    podsForReservations: async () => {
      if (options.listError) throw options.listError;
      return {
        pods: new Map(Object.entries(options.labelled ?? {})),
        failed: new Map((options.failedIds ?? []).map((id) => [id, 'HTTP 500'])),
      };
    },
    readPod: async (_namespace, name) => {
      reads.push(name);
      const answer = options.byName?.[name];
      if (answer instanceof Error) throw answer;
      if (answer === undefined) throw new NotFound('not scripted');
      return answer;
    },
  };
}

const LABEL = 'reservation-id';

const targets = [
  { reservationId: 'r1', namespace: 'gpu-dev', podName: 'p1' },
  { reservationId: 'r2', namespace: 'gpu-dev', podName: 'p2' },
  { reservationId: 'r3', namespace: 'gpu-dev', podName: 'p3' },
];

describe('pod evidence rules (shared/kube/pod-evidence.ts)', () => {
  it('trusts a labelled pod, reads the others by name, and calls only a definite 404 absent', async () => {
    const source = reader({ labelled: { r1: pod('p1') }, byName: { p2: 'absent', p3: new Transient('HTTP 503') } });
    const observed = await observePods(source, targets, { label: LABEL, concurrency: 2 });
    expect(observed.get('r1')).toMatchObject({ kind: 'present' });
    expect(observed.get('r2')).toEqual({ kind: 'absent' });
    expect(observed.get('r3')).toEqual({ kind: 'unknown', error: 'reading the pod failed: HTTP 503' });
    expect(source.reads.sort()).toEqual(['p2', 'p3']);
  });

  it('finds an unlabelled pod by name instead of calling it gone', async () => {
    const observed = await observePods(reader({ byName: { p1: pod('p1') } }), targets.slice(0, 1), {
      label: LABEL,
      concurrency: 1,
    });
    expect(observed.get('r1')).toMatchObject({ kind: 'present' });
  });

  it('does not trust a labelled pod with another name (a stale label): reads the right name', async () => {
    const source = reader({ labelled: { r1: pod('someone-else') }, byName: { p1: 'absent' } });
    expect((await observePods(source, targets.slice(0, 1), { label: LABEL, concurrency: 1 })).get('r1')).toEqual({
      kind: 'absent',
    });
  });

  it('a failed label listing proves nothing: its pods are read by name, and only a 404 is absent', async () => {
    const source = reader({
      listError: new Transient('timeout'),
      byName: { p1: 'absent', p2: pod('p2'), p3: new Transient('HTTP 503') },
    });
    const observed = await observePods(source, targets, { label: LABEL, concurrency: 2 });
    expect([...targets].map((t) => observed.get(t.reservationId)?.kind)).toEqual(['absent', 'present', 'unknown']);
    expect(source.reads.sort()).toEqual(['p1', 'p2', 'p3']);
  });

  it('a failed listing chunk costs only its own reservations a read by name; the others are still read', async () => {
    const source = reader({ labelled: { r1: pod('p1') }, failedIds: ['r2'], byName: { p3: 'absent' } });
    const observed = await observePods(source, targets, { label: LABEL, concurrency: 2 });
    expect(observed.get('r1')).toMatchObject({ kind: 'present' });
    // The reader's NotFound for an unscripted name is a thrown error, not the reader's definite 'absent'.
    expect(observed.get('r2')).toMatchObject({ kind: 'unknown' });
    expect(observed.get('r3')).toEqual({ kind: 'absent' });
    expect(source.reads.sort()).toEqual(['p2', 'p3']);
  });

  it("a pod under the name that carries another reservation's label is neither ours nor proof of absence", async () => {
    const other = { ...pod('p1'), phase: 'Failed', labels: { [LABEL]: 'someone-else' } };
    const observed = await observePods(reader({ byName: { p1: other } }), targets.slice(0, 1), {
      label: LABEL,
      concurrency: 1,
    });
    expect(observed.get('r1')).toMatchObject({
      kind: 'unknown',
      error: expect.stringContaining('another reservation'),
    });
  });

  it('gives warn its verdicts from the same evidence: deliver, pod_missing, pod_mismatch, unknown', async () => {
    const other = { ...pod('p3'), labels: { [LABEL]: 'someone-else' } };
    const four = [...targets, { reservationId: 'r4', namespace: 'gpu-dev', podName: 'p4' }];
    const source = reader({
      labelled: { r1: pod('p1') },
      byName: { p2: 'absent', p3: other, p4: new Transient('HTTP 503') },
    });
    // As warn reads them: its load's evidence (with where the label points), its decide's verdict.
    const evidence = await observePods(source, four, { label: LABEL, concurrency: 2, withListedAs: true });
    const verdicts = new Map([...evidence].map(([id, seen]) => [id, podVerdict(seen)]));
    expect(four.map((t) => verdicts.get(t.reservationId)?.kind)).toEqual([
      'deliver',
      'pod_missing',
      'pod_mismatch',
      'unknown',
    ]);
  });
});

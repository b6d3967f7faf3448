/* pod-watch's pure part: which pods are ours, what event a change makes (if any); and its bounded queue. */
import { describe, expect, it } from 'vitest';
import { isOurs, podChangeEvent } from '../../pod-watch/change.js';
import { DeliveryQueue } from '../../pod-watch/queue.js';
import { podSchema } from '../../shared/events/pod.js';

const now = new Date('2026-06-01T12:00:00Z');
const policy = { reservationLabel: 'reservation-id', source: '/devenv-lifecycle/pod-watch' };
const pod = (labels: Record<string, string> | undefined, extra: object = {}) => ({
  metadata: {
    name: 'gpu-dev-1',
    namespace: 'gpu-dev',
    uid: 'u-1',
    resourceVersion: '42',
    labels,
    managedFields: [{ manager: 'kubelet' }],
  },
  status: { phase: 'Running' },
  ...extra,
});

describe('isOurs', () => {
  it.each([
    [{ 'reservation-id': 'r-1' }, true],
    [{ 'reservation-id': '' }, false],
    [{ app: 'gpu-dev' }, false],
    [undefined, false],
  ])('labels %j -> %s', (labels, expected) => {
    expect(isOurs(pod(labels), 'reservation-id')).toBe(expected);
  });
});

describe('podChangeEvent', () => {
  it('maps each change to the ApiServerSource Resource-mode type, with the pod as data', () => {
    const types = (['ADDED', 'MODIFIED', 'DELETED'] as const).map(
      (change) => podChangeEvent(change, pod({ 'reservation-id': 'r-1' }), policy, now)!.type,
    );
    expect(types).toEqual([
      'dev.knative.apiserver.resource.add',
      'dev.knative.apiserver.resource.update',
      'dev.knative.apiserver.resource.delete',
    ]);
    const event = podChangeEvent('MODIFIED', pod({ 'reservation-id': 'r-1' }), policy, now)!;
    expect(event).toMatchObject({
      specversion: '1.0',
      source: policy.source,
      subject: '/apis/v1/namespaces/gpu-dev/pods/gpu-dev-1',
      time: '2026-06-01T12:00:00.000Z',
      datacontenttype: 'application/json',
      kind: 'Pod',
      name: 'gpu-dev-1',
      namespace: 'gpu-dev',
      apiversion: 'v1',
    });
    expect(event.data).toMatchObject({ apiVersion: 'v1', kind: 'Pod', status: { phase: 'Running' } });
    expect(event.data!.metadata).not.toHaveProperty('managedFields');
    expect(podSchema.safeParse(event.data).success).toBe(true);
  });

  it('makes nothing for a pod that is not ours or cannot be named', () => {
    expect(podChangeEvent('ADDED', pod({ app: 'x' }), policy, now)).toBeUndefined();
    expect(
      podChangeEvent('ADDED', { metadata: { name: 'x', labels: { 'reservation-id': 'r' } } }, policy, now),
    ).toBeUndefined();
  });

  it('gives one change one id: the same version and kind again is the same event, anything else a new one', () => {
    const id = (change: 'ADDED' | 'DELETED', version: string, uid = 'u-1') =>
      podChangeEvent(
        change,
        {
          ...pod({ 'reservation-id': 'r' }),
          metadata: { ...pod({ 'reservation-id': 'r' }).metadata, resourceVersion: version, uid },
        },
        policy,
        now,
      )!.id;
    expect(id('ADDED', '42')).toBe(id('ADDED', '42'));
    expect(new Set([id('ADDED', '42'), id('ADDED', '43'), id('DELETED', '42'), id('ADDED', '42', 'u-2')]).size).toBe(4);
    expect(id('ADDED', '42')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });
});

describe('podChangeEvent for an update', () => {
  const container = {
    name: 'gpu-dev',
    restartCount: 0,
    ready: true,
    state: { running: { startedAt: '2026-06-01T08:00:00Z' } },
  };
  const running = pod({ 'reservation-id': 'r' }, { status: { phase: 'Running', containerStatuses: [container] } });
  const withStatus = (status: object, metadata: object = {}) => ({
    ...running,
    metadata: { ...running.metadata, ...metadata },
    status: { ...running.status, ...status },
  });

  it.each([
    [
      'an annotation or a new resourceVersion',
      withStatus({}, { resourceVersion: '43', annotations: { note: 'x' } }),
      false,
    ],
    ['a readiness flip', withStatus({ containerStatuses: [{ ...container, ready: false }] }), false],
    [
      'an OOM kill with its restart',
      withStatus({
        containerStatuses: [
          {
            name: 'gpu-dev',
            restartCount: 1,
            state: { running: {} },
            lastState: { terminated: { reason: 'OOMKilled', exitCode: 137, finishedAt: '2026-06-01T12:00:00Z' } },
          },
        ],
      }),
      true,
    ],
    ['a phase change', withStatus({ phase: 'Failed' }), true],
    ['a deletion starting', withStatus({}, { deletionTimestamp: '2026-06-01T12:00:00Z' }), true],
    ['a label change', withStatus({}, { labels: { 'reservation-id': 'r', team: 'x' } }), true],
  ])('%s -> event: %s', (_what, next, expected) => {
    expect(podChangeEvent('MODIFIED', next, policy, now, running) !== undefined).toBe(expected);
  });

  it('emits an update whose previous state is unknown, and never filters adds or deletes', () => {
    expect(podChangeEvent('MODIFIED', running, policy, now)).toBeDefined();
    expect(podChangeEvent('DELETED', running, policy, now, running)).toBeDefined();
  });
});

describe('DeliveryQueue', () => {
  it('sends at most `concurrency` at once, drops the oldest waiting item when full, and drains', async () => {
    const gates: (() => void)[] = [];
    const sent: number[] = [];
    const dropped: number[] = [];
    let inFlight = 0;
    let most = 0;
    const queue = new DeliveryQueue<number>({
      limit: 2,
      concurrency: 1,
      send: (item) =>
        new Promise<void>((resolve) => {
          inFlight += 1;
          most = Math.max(most, inFlight);
          gates.push(() => {
            inFlight -= 1;
            sent.push(item);
            resolve();
          });
        }),
      onDropped: (item) => dropped.push(item),
    });
    for (const item of [1, 2, 3, 4]) queue.push(item);
    expect(dropped).toEqual([2]);
    expect(queue.depth).toBe(3);
    const drained = queue.drain(5_000);
    while (sent.length < 3) {
      await new Promise((resolve) => setImmediate(resolve));
      gates.shift()?.();
    }
    expect(await drained).toBe(true);
    expect(sent).toEqual([1, 3, 4]);
    expect(most).toBe(1);
  });
});

import { describe, expect, it } from 'vitest';
import { summarizePod } from '../../shared/kube/pod-summary.js';

describe('summarizePod', () => {
  const eventPod = {
    metadata: {
      name: 'gpu-dev-r1',
      namespace: 'gpu-dev',
      uid: 'u1',
      labels: { 'reservation-id': 'r1' },
      deletionTimestamp: null,
    },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True' }],
      containerStatuses: [
        {
          name: 'gpu-dev',
          restartCount: 2,
          state: { running: { startedAt: '2026-06-01T11:59:00Z' } },
          lastState: { terminated: { reason: 'OOMKilled', exitCode: 137, finishedAt: '2026-06-01T11:58:30Z' } },
        },
      ],
    },
  };

  it('reads the Pod JSON of a pod-change event, timestamps as instants', () => {
    expect(summarizePod(eventPod)).toEqual({
      name: 'gpu-dev-r1',
      namespace: 'gpu-dev',
      uid: 'u1',
      phase: 'Running',
      reason: undefined,
      message: undefined,
      deleting: false,
      labels: { 'reservation-id': 'r1' },
      conditions: [{ type: 'Ready', status: 'True', reason: undefined, message: undefined }],
      containers: [
        {
          name: 'gpu-dev',
          running: true,
          restartCount: 2,
          waitingReason: undefined,
          terminated: undefined,
          lastTerminated: { reason: 'OOMKilled', exitCode: 137, finishedAt: new Date('2026-06-01T11:58:30Z') },
        },
      ],
    });
  });

  it('reads a client V1Pod the same way (dates already Date objects)', () => {
    const clientPod = {
      ...eventPod,
      metadata: { ...eventPod.metadata, deletionTimestamp: new Date('2026-06-01T12:00:00Z') },
    };
    expect(summarizePod(clientPod).deleting).toBe(true);
  });

  it('drops an unreadable timestamp instead of guessing', () => {
    const pod = {
      ...eventPod,
      status: {
        containerStatuses: [
          { name: 'c', lastState: { terminated: { reason: 'OOMKilled', exitCode: 137, finishedAt: 'yesterday' } } },
        ],
      },
    };
    expect(summarizePod(pod).containers[0]!.lastTerminated).toEqual({
      reason: 'OOMKilled',
      exitCode: 137,
      finishedAt: undefined,
    });
  });

  it('survives an almost empty pod', () => {
    expect(summarizePod({})).toMatchObject({
      name: '',
      phase: undefined,
      deleting: false,
      containers: [],
      conditions: [],
    });
  });
});

import { describe, expect, it } from 'vitest';
import { advance } from '../../functions/cleanup-pod/decide.js';
import type { Observation, VolumeView } from '../../functions/cleanup-pod/decide.js';

const policy = {
  stuckTerminatingSeconds: 300,
  retryDelaySeconds: 30,
  escalateAfterSeconds: 1800,
  escalatedRetryDelaySeconds: 600,
};
const to = (observation: Observation, secondsInStep = 0) => advance(observation, policy, secondsInStep);
const detach = (volume: VolumeView, secondsInStep = 0) => to({ step: 'await_detach', volume }, secondsInStep);
const seen = (state: string, attachments: string[] = []): VolumeView => ({ kind: 'seen', state, attachments });

describe('cleanup-pod state machine', () => {
  it('goes delete → gone → detached → snapshot → release → verify → done on good evidence', () => {
    expect(to({ step: 'delete_resources', deleted: true, errors: [] })).toMatchObject({
      kind: 'advance',
      to: 'await_gone',
    });
    expect(to({ step: 'await_gone', pod: 'gone' })).toMatchObject({ kind: 'advance', to: 'await_detach' });
    expect(detach(seen('available'))).toMatchObject({ kind: 'advance', to: 'request_snapshot' });
    expect(to({ step: 'request_snapshot', disk: { holds: true } })).toMatchObject({
      kind: 'advance',
      to: 'release_disk',
      snapshot: true,
    });
    expect(to({ step: 'release_disk' })).toMatchObject({ kind: 'advance', to: 'verify' });
    expect(to({ step: 'verify', remaining: [] })).toMatchObject({ kind: 'advance', to: 'done' });
  });

  it('never asks for a snapshot while the volume may still be attached (A-6)', () => {
    for (const volume of [seen('in-use', ['attached']), { kind: 'unknown', reason: 'HTTP 503' } as const]) {
      expect(detach(volume)).toMatchObject({ kind: 'retry' });
    }
  });

  it('never moves past the pod while it might still run', () => {
    expect(to({ step: 'await_gone', pod: 'present', terminatingForSeconds: 10 })).toMatchObject({
      kind: 'retry',
      reason: 'pod still terminating',
    });
    expect(to({ step: 'await_gone', pod: 'unknown' })).toMatchObject({ kind: 'retry' });
    expect(to({ step: 'await_gone', pod: 'present', terminatingForSeconds: 301 })).toMatchObject({
      kind: 'retry',
      forceDeletePod: true,
    });
  });

  it('deletes its own pod again, gracefully, when it is not terminating: never grace 0 for a running pod', () => {
    const transition = to({ step: 'await_gone', pod: 'running', terminatingForSeconds: 3600 });
    expect(transition).toMatchObject({ kind: 'restart' });
    expect(transition).not.toHaveProperty('forceDeletePod');
  });

  it("moves past a name that holds another reservation's pod without waiting on it", () => {
    expect(to({ step: 'await_gone', pod: 'not-ours' })).toMatchObject({ kind: 'advance', to: 'await_detach' });
  });

  it('skips the snapshot when there is no volume to snapshot', () => {
    expect(detach({ kind: 'none' })).toMatchObject({ kind: 'advance', to: 'release_disk' });
    expect(detach({ kind: 'missing' })).toMatchObject({ kind: 'advance', to: 'release_disk' });
  });

  it('retries a failed delete, and starts over when verification finds leftovers', () => {
    expect(to({ step: 'delete_resources', deleted: false, errors: ['HTTP 503'] })).toMatchObject({
      kind: 'retry',
      reason: 'deleting failed: HTTP 503',
    });
    expect(to({ step: 'verify', remaining: ['service/gpu-dev-r1-ssh'] })).toEqual({
      kind: 'restart',
      reason: 'still present: service/gpu-dev-r1-ssh',
    });
    expect(to({ step: 'verify', remaining: null })).toMatchObject({ kind: 'retry' });
  });
});

describe('cleanup-pod and a disk this reservation does not hold (issue 14 item 4)', () => {
  it('does not wait on, snapshot or release a volume whose disk another reservation holds', () => {
    const moved = detach({ kind: 'not-held', holder: 'newer-reservation' });
    expect(moved).toMatchObject({ kind: 'advance', to: 'release_disk' });
    expect(moved).not.toHaveProperty('snapshot');
    expect((moved as { reason: string }).reason).toContain('"newer-reservation"');
  });

  it('does not request a snapshot once the disk has moved, even at request_snapshot', () => {
    for (const holder of ['newer-reservation', null]) {
      const transition = to({ step: 'request_snapshot', disk: { holds: false, holder } });
      expect(transition).toMatchObject({ kind: 'advance', to: 'release_disk' });
      expect(transition).not.toHaveProperty('snapshot');
    }
  });
});

describe('cleanup-pod and every EC2 volume state (issue 14 item 8)', () => {
  it.each([
    ['available, no attachment', seen('available'), 'request_snapshot'],
    ['available, attachment detached', seen('available', ['detached']), 'request_snapshot'],
    ['deleted', seen('deleted'), 'release_disk'],
  ])('moves on when the volume is %s', (_name, volume, step) => {
    expect(detach(volume)).toMatchObject({ kind: 'advance', to: step });
  });

  it.each([
    ['creating', seen('creating')],
    ['in-use, attaching', seen('in-use', ['attaching'])],
    ['in-use, attached', seen('in-use', ['attached'])],
    ['in-use, detaching', seen('in-use', ['detaching'])],
    ['in-use, detached (EC2 not caught up)', seen('in-use', ['detached'])],
    ['in-use, no attachment reported', seen('in-use')],
    ['available with a live attachment', seen('available', ['detaching'])],
    ['deleting', seen('deleting')],
    ['error', seen('error')],
    ['a state EC2 may add later', seen('optimizing')],
    ['IncorrectState', { kind: 'unknown', reason: 'IncorrectState: EC2 DescribeVolumes' } as const],
    ['unreadable', { kind: 'unknown', reason: 'HTTP 503' } as const],
  ])('waits, never advances, when the volume is %s', (_name, volume) => {
    const transition = detach(volume);
    expect(transition).toMatchObject({ kind: 'retry', delaySeconds: 30 });
    expect(transition).not.toHaveProperty('escalated');
  });

  it('escalates a wait that passed its bound, and retries it less often', () => {
    const stuck = detach(seen('in-use', ['detaching']), 1800);
    expect(stuck).toMatchObject({ kind: 'retry', escalated: true, delaySeconds: 600 });
    expect((stuck as { reason: string }).reason).toMatch(/detaching.*escalated/);
    expect(detach(seen('in-use', ['detaching']), 1799)).not.toHaveProperty('escalated');
  });

  it('escalates every kind of wait, not only the volume', () => {
    expect(to({ step: 'await_gone', pod: 'unknown' }, 3600)).toMatchObject({ kind: 'retry', escalated: true });
    expect(to({ step: 'verify', remaining: null }, 3600)).toMatchObject({ kind: 'retry', escalated: true });
    expect(to({ step: 'delete_resources', deleted: false, errors: ['x'] }, 3600)).toMatchObject({
      kind: 'retry',
      escalated: true,
    });
  });
});

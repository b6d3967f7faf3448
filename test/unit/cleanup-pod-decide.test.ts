import { describe, expect, it } from 'vitest';
import { advance } from '../../functions/cleanup-pod/decide.js';
import type { Observation } from '../../functions/cleanup-pod/decide.js';

const policy = { stuckTerminatingSeconds: 300, retryDelaySeconds: 30 };
const to = (observation: Observation) => advance(observation, policy);

describe('cleanup-pod state machine', () => {
  it('goes delete → gone → detached → snapshot → release → verify → done on good evidence', () => {
    expect(to({ step: 'delete_resources', deleted: true, errors: [] })).toMatchObject({ kind: 'advance', to: 'await_gone' });
    expect(to({ step: 'await_gone', pod: 'gone' })).toMatchObject({ kind: 'advance', to: 'await_detach' });
    expect(to({ step: 'await_detach', volume: 'available' })).toMatchObject({ kind: 'advance', to: 'request_snapshot' });
    expect(to({ step: 'request_snapshot' })).toMatchObject({ kind: 'advance', to: 'release_disk', snapshot: true });
    expect(to({ step: 'release_disk' })).toMatchObject({ kind: 'advance', to: 'verify' });
    expect(to({ step: 'verify', remaining: [] })).toMatchObject({ kind: 'advance', to: 'done' });
  });

  it('never asks for a snapshot while the volume may still be attached (A-6)', () => {
    for (const volume of ['attached', 'unknown'] as const) {
      expect(to({ step: 'await_detach', volume })).toMatchObject({ kind: 'retry' });
    }
  });

  it('never moves past the pod while it might still run', () => {
    expect(to({ step: 'await_gone', pod: 'present', terminatingForSeconds: 10 })).toMatchObject({ kind: 'retry', reason: 'pod still terminating' });
    expect(to({ step: 'await_gone', pod: 'unknown' })).toMatchObject({ kind: 'retry' });
    expect(to({ step: 'await_gone', pod: 'present', terminatingForSeconds: 301 })).toMatchObject({ kind: 'retry', forceDeletePod: true });
  });

  it('skips the snapshot when there is no volume to snapshot', () => {
    expect(to({ step: 'await_detach', volume: 'none' })).toMatchObject({ kind: 'advance', to: 'release_disk' });
    expect(to({ step: 'await_detach', volume: 'missing' })).toMatchObject({ kind: 'advance', to: 'release_disk' });
  });

  it('retries a failed delete, and starts over when verification finds leftovers', () => {
    expect(to({ step: 'delete_resources', deleted: false, errors: ['HTTP 503'] })).toMatchObject({ kind: 'retry', reason: 'deleting failed: HTTP 503' });
    expect(to({ step: 'verify', remaining: ['service/gpu-dev-r1-ssh'] })).toEqual({ kind: 'restart', reason: 'still present: service/gpu-dev-r1-ssh' });
    expect(to({ step: 'verify', remaining: null })).toMatchObject({ kind: 'retry' });
  });
});

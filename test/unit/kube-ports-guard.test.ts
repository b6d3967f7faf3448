import { describe, expect, it } from 'vitest';
import { Invalid } from '../../shared/errors.js';
import type { Kube } from '../../shared/kube/index.js';
import { createClusterResources } from '../../shared/kube-ports.js';

// The guard must refuse before any call reaches the API: a client that records every call proves it.
function recordingKube(calls: string[]): Kube {
  const record = (name: string) => async () => {
    calls.push(name);
    return { items: [] };
  };
  return new Proxy({}, { get: (_target, name) => record(String(name)) }) as unknown as Kube;
}

describe('deleteLabelled selector guard', () => {
  it.each(['', ' ', 'reservation-id', 'reservation-id!=x', 'a=b,c=d', 'app in (x)', 'a==b'])('refuses %j and deletes nothing', async (selector) => {
    const calls: string[] = [];
    await expect(createClusterResources(recordingKube(calls)).deleteLabelled('ns', selector, 0)).rejects.toThrow(Invalid);
    expect(calls).toEqual([]);
  });

  it('accepts exactly one key=value', async () => {
    const calls: string[] = [];
    await createClusterResources(recordingKube(calls)).deleteLabelled('ns', 'reservation-id=r1', 0);
    expect(calls).toContain('listPods');
  });
});

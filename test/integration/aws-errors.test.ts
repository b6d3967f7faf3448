/*
 * What the functions see when AWS misbehaves: faults injected in the simulator, observed through
 * the real SDK and shared/aws, must arrive as the right typed error.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Conflict, Fatal, Invalid, NotFound, Transient } from '../../shared/errors.js';
import { createEc2Client } from '../../shared/aws/clients.js';
import { awsErrorCode, isThrottled } from '../../shared/aws/errors.js';
import type { Ec2Api } from '../../shared/aws/ec2.js';
import { createEc2Api } from '../../shared/aws/ec2.js';
import { withRetries } from '../../shared/resilience.js';
import type { AwsFault } from '../../sim/aws/index.js';
import type { AwsHarness } from './aws-harness.js';
import { startAwsHarness } from './aws-harness.js';

const requestTimeoutMs = 300;
let h: AwsHarness;
let ec2: Ec2Api;
beforeAll(async () => {
  h = await startAwsHarness({ requestTimeoutMs });
  ec2 = createEc2Api(h.ec2Client);
});
afterAll(async () => {
  await h.close();
});
beforeEach(() => {
  h.sim.reset();
});

const missingSnapshot = 'snap-0000000000000dead';

function failDescribeWith(fault: AwsFault): void {
  h.sim.addFault({ service: 'ec2', action: 'DescribeSnapshots', fault });
}

const caught = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (err: unknown) => err,
  );

describe('EC2 errors become typed errors', () => {
  it.each<[string, AwsFault]>([
    ['RequestLimitExceeded (503)', { kind: 'throttle' }],
    ['an internal error (500)', { kind: 'error', status: 500, code: 'InternalError' }],
    ['Unavailable (503)', { kind: 'error', status: 503, code: 'Unavailable' }],
    ['a reset connection', { kind: 'reset' }],
  ])('%s is Transient, with the SDK error as cause', async (_name, fault) => {
    failDescribeWith(fault);
    const err = await caught(ec2.describeSnapshots({}));
    expect(err).toBeInstanceOf(Transient);
    expect((err as Error).cause).toBeInstanceOf(Error);
  });

  it('an answer slower than the request timeout is Transient, and does not wait for the answer', async () => {
    failDescribeWith({ kind: 'delay', delayMs: 5_000 });
    const startedAt = performance.now();
    const err = await caught(ec2.describeSnapshots({}));
    expect(err).toBeInstanceOf(Transient);
    expect((err as Error).message).toContain('TimeoutError');
    expect(performance.now() - startedAt).toBeLessThan(2_000);
  });

  it('an endpoint nobody listens on is Transient', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const client = createEc2Client({ ...h.options, endpoint: `http://127.0.0.1:${port}` });
    await expect(createEc2Api(client).describeSnapshots({})).rejects.toBeInstanceOf(Transient);
    client.destroy();
  });

  it('InvalidSnapshot.NotFound and InvalidVolume.NotFound are NotFound', async () => {
    await expect(ec2.deleteSnapshot(missingSnapshot)).rejects.toBeInstanceOf(NotFound);
    await expect(ec2.deleteVolume('vol-0000000000000dead')).rejects.toBeInstanceOf(NotFound);
  });

  it.each<[string, () => Promise<unknown>, abstract new (...args: never[]) => Error]>([
    ['a malformed snapshot id', () => ec2.deleteSnapshot('snapshot-1'), Invalid],
    ['a malformed volume id', () => ec2.deleteVolume('volume-1'), Invalid],
    [
      'an attached volume',
      () => ec2.deleteVolume(h.sim.addVolume({ sizeGiB: 1, attachedTo: 'i-0aaaaaaaaaaaaaaaa' }).volumeId),
      Conflict,
    ],
  ])('%s is not NotFound', async (_name, call, expected) => {
    const err = await caught(call());
    expect(err).toBeInstanceOf(expected);
    expect(err).not.toBeInstanceOf(NotFound);
  });

  it.each<[string, AwsFault, abstract new (...args: never[]) => Error]>([
    ['a 404 with another code', { kind: 'error', status: 404, code: 'NoSuchEntity' }, Invalid],
    ['IncorrectState', { kind: 'error', status: 400, code: 'IncorrectState' }, Conflict],
    ['AuthFailure', { kind: 'error', status: 401, code: 'AuthFailure' }, Fatal],
    ['UnauthorizedOperation', { kind: 'error', status: 403, code: 'UnauthorizedOperation' }, Fatal],
    ['InvalidParameterValue', { kind: 'error', status: 400, code: 'InvalidParameterValue' }, Invalid],
  ])('%s is classified by its code, not as NotFound', async (_name, fault, expected) => {
    failDescribeWith(fault);
    const err = await caught(ec2.describeSnapshots({}));
    expect(err).toBeInstanceOf(expected);
    expect(err).not.toBeInstanceOf(NotFound);
  });
});

describe('with retries', () => {
  const policy = { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 10, callTimeoutMs: 2_000 };

  it('rides out throttling and returns the answer', async () => {
    h.sim.addSnapshot({ volumeId: 'vol-0000000000000abcd', sizeGiB: 8 });
    h.sim.addFault({ service: 'ec2', action: 'DescribeSnapshots', times: 2, fault: { kind: 'throttle' } });
    const found = await withRetries((signal) => ec2.describeSnapshots({}, signal), policy);
    expect(found).toHaveLength(1);
    expect(h.sim.calls().map((c) => c.fault)).toEqual(['throttle', 'throttle', undefined]);
  });

  it("CreateSnapshot's per-volume rate limit is a retryable throttle (nothing was made), over the wire", async () => {
    const { volumeId } = h.sim.addVolume({ sizeGiB: 8 });
    await ec2.createSnapshot({ volumeId, description: '', tags: {} });
    const err = await caught(ec2.createSnapshot({ volumeId, description: '', tags: {} }));
    expect(err).toBeInstanceOf(Transient);
    expect(awsErrorCode(err)).toBe('SnapshotCreationPerVolumeRateExceeded');
    expect(isThrottled(err)).toBe(true);
    expect(h.sim.snapshots().filter((s) => s.volumeId === volumeId)).toHaveLength(1);
  });

  it('does not retry NotFound', async () => {
    await expect(withRetries((signal) => ec2.deleteSnapshot(missingSnapshot, signal), policy)).rejects.toBeInstanceOf(
      NotFound,
    );
    expect(h.sim.calls()).toHaveLength(1);
  });

  it('a lost response looks Transient although the snapshot was created: callers must reconcile, not blindly retry', async () => {
    const { volumeId } = h.sim.addVolume({ sizeGiB: 8 });
    h.sim.addFault({ service: 'ec2', action: 'CreateSnapshot', fault: { kind: 'lose-response' } });
    await expect(
      ec2.createSnapshot({ volumeId, description: '', tags: { reservation: 'r-1' } }),
    ).rejects.toBeInstanceOf(Transient);
    expect(await ec2.describeSnapshots({ tags: { reservation: 'r-1' } })).toHaveLength(1);
  });
});

/*
 * EC2's filter value limit: the simulator refuses what the real service refuses (FilterLimitExceeded,
 * HTTP 400, more than 200 filter values in one Describe call, counted over all its filters), and
 * shared/aws splits a query with more values into calls under the limit, whose union is the answer.
 */
import { DescribeSnapshotsCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import type { Filter } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Ec2Api } from '../../shared/aws/ec2.js';
import { createEc2Api } from '../../shared/aws/ec2.js';
import { Fatal } from '../../shared/errors.js';
import type { AwsHarness } from './aws-harness.js';
import { startAwsHarness } from './aws-harness.js';

let h: AwsHarness;
let ec2: Ec2Api;
beforeAll(async () => {
  h = await startAwsHarness();
  ec2 = createEc2Api(h.ec2Client, { pageSize: 500 });
});
afterAll(async () => {
  await h.close();
});
beforeEach(() => {
  h.sim.reset();
});

async function errorOf(promise: Promise<unknown>): Promise<{ name: string; status?: number; message: string }> {
  const err = await promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
  const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
  return { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message };
}

const tokens = (count: number) => Array.from({ length: count }, (_, i) => `token-${i}`);
const describeCalls = (action: string) => h.sim.calls().filter((call) => call.action === action);
const paramsMatching = (call: { params: Record<string, string> }, pattern: RegExp) =>
  Object.keys(call.params).filter((key) => pattern.test(key)).length;
/** The filter values one recorded call carried, over all its filters. */
const valuesIn = (call: { params: Record<string, string> }) => paramsMatching(call, /^Filter\.\d+\.Value\.\d+$/);
const idsIn = (call: { params: Record<string, string> }) => paramsMatching(call, /^VolumeId\.\d+$/);

describe('the simulator answers as EC2 does past the filter value limit', () => {
  it('refuses 201 values in one filter with FilterLimitExceeded (400) and accepts 200', async () => {
    const Filters = (count: number): Filter[] => [{ Name: 'tag:request-token', Values: tokens(count) }];
    const describe = (count: number) =>
      h.ec2Client.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: Filters(count) }));
    expect(await errorOf(describe(201))).toEqual({
      name: 'FilterLimitExceeded',
      status: 400,
      message: 'The maximum number of filter values specified on a single call is 200',
    });
    expect((await describe(200)).Snapshots).toEqual([]);
  });

  it('counts the values of every filter of the call together (DescribeVolumes too)', async () => {
    const Filters: Filter[] = [
      { Name: 'tag:gpu-dev-user', Values: tokens(150) },
      { Name: 'status', Values: ['available', 'in-use'] },
      { Name: 'tag-key', Values: tokens(49) },
    ];
    expect((await errorOf(h.ec2Client.send(new DescribeVolumesCommand({ Filters })))).name).toBe('FilterLimitExceeded');
    const fits = Filters.map((filter, i) => (i === 2 ? { ...filter, Values: tokens(48) } : filter));
    expect((await h.ec2Client.send(new DescribeVolumesCommand({ Filters: fits }))).Volumes).toEqual([]);
  });

  it('refuses a filter value longer than 255 characters', async () => {
    const Filters = [{ Name: 'tag:disk_name', Values: ['x'.repeat(256)] }];
    expect(await errorOf(h.ec2Client.send(new DescribeVolumesCommand({ Filters })))).toMatchObject({
      name: 'FilterLimitExceeded',
      message: 'The maximum length for a filter value is 255 characters',
    });
  });
});

describe('shared/aws keeps every call under the limit', () => {
  it('splits 450 request tokens into three DescribeSnapshots calls of at most 200 values and finds them all', async () => {
    const { volumeId } = h.sim.addVolume({ sizeGiB: 1 });
    const wanted = tokens(450);
    // Every 50th token has a snapshot, so each of the three calls finds some.
    const made = wanted
      .filter((_, i) => i % 50 === 0)
      .map((token) => h.sim.addSnapshot({ volumeId, tags: { 'request-token': token, 'gpu-dev-user': 'alice' } }));
    h.sim.clear();
    const found = await ec2.describeSnapshots({ tags: { 'request-token': wanted, 'gpu-dev-user': 'alice' } });
    expect(found.map((s) => s.snapshotId).sort()).toEqual(made.map((s) => s.snapshotId).sort());
    // The user tag's one value rides with every call: 199 + 1, 199 + 1, 52 + 1.
    expect(describeCalls('DescribeSnapshots').map(valuesIn)).toEqual([200, 200, 53]);
  });

  it('splits a volume-id listing with a state filter, each call carrying the states whole', async () => {
    const ids = Array.from({ length: 300 }, () => h.sim.addVolume({ sizeGiB: 1 }).volumeId);
    h.sim.clear();
    const found = await ec2.describeVolumes({ volumeIds: ids, states: ['available', 'in-use'] });
    expect(found.map((v) => v.volumeId).sort()).toEqual([...ids].sort());
    expect(describeCalls('DescribeVolumes').map(valuesIn)).toEqual([200, 104]);
  });

  it('refuses, before any call, criteria that no split can fit (201 tag keys, each its own ANDed filter)', async () => {
    const err = await ec2.describeVolumes({ tagKeys: tokens(201) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Fatal);
    expect(describeCalls('DescribeVolumes')).toEqual([]);
  });

  it('describes 450 volume ids in chunks of 200, a chunk asked again as a filter fitting the limit too', async () => {
    const ids = Array.from({ length: 450 }, () => h.sim.addVolume({ sizeGiB: 1 }).volumeId);
    const missing = 'vol-00000000000000bad';
    h.sim.clear();
    const { found, missingIds } = await ec2.describeVolumesByIds([...ids, missing]);
    expect(found).toHaveLength(450);
    expect(missingIds).toEqual([missing]);
    // The chunk with the unknown id fails as a whole (NotFound) and is asked again as a filter.
    const calls = describeCalls('DescribeVolumes');
    expect(calls.map(idsIn)).toEqual([200, 200, 51, 0]);
    expect(calls.map(valuesIn)).toEqual([0, 0, 0, 51]);
  });
});

/*
 * The simulated EC2 answers a filtered Describe by looking only at what the filter can match: with
 * 20,000 snapshots, a call by tag, tag key or volume id examines its matches, not the account (a
 * pass over 100,000 snapshots per call made snapshot-sync's calls time out at 10,000 disks). The
 * answers stay right through the real SDK client, paged, and after tags change or snapshots go.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ec2Api } from '../../shared/aws/ec2.js';
import { createEc2Api } from '../../shared/aws/ec2.js';
import type { AwsHarness } from './aws-harness.js';
import { startAwsHarness } from './aws-harness.js';

let h: AwsHarness;
let ec2: Ec2Api;
const volumes: string[] = [];
const HISTORY = 20_000;

beforeAll(async () => {
  h = await startAwsHarness();
  ec2 = createEc2Api(h.ec2Client, { pageSize: 5 });
  for (let v = 0; v < 2_000; v++)
    volumes.push(
      h.sim.addVolume({ sizeGiB: 10, tags: { 'gpu-dev-user': `u${v}@example.com`, disk_name: 'home' } }).volumeId,
    );
  for (let i = 0; i < HISTORY; i++) {
    const v = i % volumes.length;
    h.sim.addSnapshot({
      volumeId: volumes[v]!,
      tags: {
        'gpu-dev-user': `u${v}@example.com`,
        disk_name: 'home',
        ...(i % 1000 === 0 && { 'request-token': `t${i}` }),
      },
    });
  }
}, 60_000);
afterAll(async () => {
  await h.close();
});

const examinedBy = async <T>(call: () => Promise<T>): Promise<[T, number]> => {
  const before = h.sim.examined();
  const result = await call();
  return [result, h.sim.examined() - before];
};

describe('simulated EC2 indexes', () => {
  it('answers a tag filter with several values by examining only the matching snapshots, on every page', async () => {
    const [found, examined] = await examinedBy(() =>
      ec2.describeSnapshots({ tags: { 'gpu-dev-user': ['u1@example.com', 'u2@example.com'], disk_name: 'home' } }),
    );
    expect(found).toHaveLength(20);
    expect(found.every((s) => s.volumeId === volumes[1] || s.volumeId === volumes[2])).toBe(true);
    // pageSize 5: four pages (plus the empty check the SDK does not make), each examining the 20 candidates at most
    expect(examined).toBeLessThanOrEqual(20 * 5);
    expect(examined).toBeLessThan(HISTORY / 100);
  });

  it('answers a volume-id filter with a tag-key filter from the volume index', async () => {
    const [found, examined] = await examinedBy(() =>
      ec2.describeSnapshots({ volumeIds: [volumes[7]!], tagKeys: ['gpu-dev-user'] }),
    );
    expect(found).toHaveLength(10);
    expect(examined).toBeLessThanOrEqual(10 * 3);
  });

  it('follows tags written after the snapshot was made, and forgets deleted snapshots', async () => {
    const [target] = await ec2.describeSnapshots({ tags: { 'request-token': 't0' } });
    await ec2.createTags([target!.snapshotId], { 'request-token': 'moved' });
    expect(await ec2.describeSnapshots({ tags: { 'request-token': 't0' } })).toEqual([]);
    expect((await ec2.describeSnapshots({ tags: { 'request-token': 'moved' } })).map((s) => s.snapshotId)).toEqual([
      target!.snapshotId,
    ]);
    await ec2.deleteSnapshot(target!.snapshotId);
    const [found, examined] = await examinedBy(() => ec2.describeSnapshots({ tags: { 'request-token': 'moved' } }));
    expect(found).toEqual([]);
    expect(examined).toBe(0);
  });

  it('answers DescribeVolumes filtered by 200 volume ids by examining those volumes only', async () => {
    const ids = volumes.slice(100, 300);
    const [found, examined] = await examinedBy(() => ec2.describeVolumes({ volumeIds: ids }));
    expect(found.map((v) => v.volumeId).sort()).toEqual([...ids].sort());
    expect(examined).toBeLessThanOrEqual(200 * 40);
    expect(examined).toBeLessThan(volumes.length * 40);
  });
});

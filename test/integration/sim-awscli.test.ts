/*
 * The AWS CLI, a standard client, against the EC2 simulator with its defaults: describe-volumes
 * (which sends MaxResults=1000 unasked, its EC2 page-size injector), describe-snapshots, and
 * delete-* with --dry-run (DryRunOperation, nothing deleted). Skipped, saying so, where the AWS
 * CLI is not installed (apt-get install awscli).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSim } from '../../sim/server.js';
import type { Sim } from '../../sim/server.js';
import { simProductEnv } from '../../sim/product-env.js';
import { execTracked, toolInstalled } from '../support/processes.js';

const installed = await toolInstalled(
  { command: 'aws', args: ['--version'], timeoutMs: 20_000 },
  'the AWS CLI checks of sim-awscli.test.ts (apt-get install awscli)',
);

describe.skipIf(!installed)('the AWS CLI against the simulator', () => {
  let sim: Sim;
  const aws = (...args: string[]) =>
    execTracked('aws', ['ec2', ...args, '--output', 'json'], {
      timeoutMs: 30_000,
      env: {
        ...process.env,
        ...simProductEnv(sim),
        // The AWS CLI (botocore) reads the region from AWS_DEFAULT_REGION only.
        AWS_DEFAULT_REGION: simProductEnv(sim).AWS_REGION!,
        AWS_PAGER: '',
        AWS_CONFIG_FILE: '/dev/null',
        AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      },
    });
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => ({ stderr: '' }),
      (err: { stderr: string }) => err,
    );

  beforeAll(async () => {
    sim = await startSim();
    for (let i = 0; i < 3; i++) sim.aws.addVolume({ sizeGiB: 10 + i, tags: { 'gpu-dev-user': 'alice' } });
    sim.aws.addSnapshot({ volumeId: sim.aws.volumes()[0]!.volumeId });
  });
  afterAll(() => sim.close());

  it('describe-volumes with no options lists every volume (MaxResults=1000 is capped, not refused)', async () => {
    const { stdout } = await aws('describe-volumes');
    expect((JSON.parse(stdout) as { Volumes: unknown[] }).Volumes).toHaveLength(3);
    expect(sim.aws.calls().at(-1)).toMatchObject({ action: 'DescribeVolumes', params: { MaxResults: '1000' } });
  }, 40_000);

  it('describe-snapshots --owner-ids self lists the snapshot', async () => {
    const { stdout } = await aws('describe-snapshots', '--owner-ids', 'self');
    expect((JSON.parse(stdout) as { Snapshots: { State: string }[] }).Snapshots).toMatchObject([
      { State: 'completed' },
    ]);
  }, 40_000);

  it('delete-volume and delete-snapshot with --dry-run answer DryRunOperation and delete nothing', async () => {
    const volumeId = sim.aws.volumes()[1]!.volumeId;
    const snapshotId = sim.aws.snapshots()[0]!.snapshotId;
    expect((await failure(aws('delete-volume', '--volume-id', volumeId, '--dry-run'))).stderr).toMatch(
      /DryRunOperation/,
    );
    expect((await failure(aws('delete-snapshot', '--snapshot-id', snapshotId, '--dry-run'))).stderr).toMatch(
      /DryRunOperation/,
    );
    expect(sim.aws.volume(volumeId)).toBeDefined();
    expect(sim.aws.snapshot(snapshotId)).toBeDefined();
  }, 60_000);
});

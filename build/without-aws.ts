/*
 * What the bundles of functions that never call AWS get instead of the AWS SDK (esbuild alias in
 * bundle.ts). The SDK is most of a bundle's start-up time and half its memory, and the shared
 * composition root builds every client, so building one must work; using one fails loudly. Which
 * functions may do without is decided by their Deps types (no ec2, no lambda) and checked by the
 * bundle tests, which run each bundle end to end.
 */
class WithoutAws {
  constructor(..._args: unknown[]) {}

  send(): Promise<never> {
    return Promise.reject(new Error('this function was bundled without the AWS SDK: it must not call AWS'));
  }

  destroy(): void {}
}

function paginateWithoutAws(): never {
  throw new Error('this function was bundled without the AWS SDK: it must not call AWS');
}

export {
  WithoutAws as EC2Client,
  WithoutAws as LambdaClient,
  WithoutAws as CreateSnapshotCommand,
  WithoutAws as CreateTagsCommand,
  WithoutAws as DeleteSnapshotCommand,
  WithoutAws as DeleteVolumeCommand,
  WithoutAws as DescribeSnapshotsCommand,
  WithoutAws as DescribeVolumesCommand,
  WithoutAws as InvokeCommand,
  paginateWithoutAws as paginateDescribeSnapshots,
  paginateWithoutAws as paginateDescribeVolumes,
};

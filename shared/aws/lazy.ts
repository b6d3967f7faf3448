/*
 * The AWS SDK is most of a bundle's start-up time and half its memory, and most runs never call AWS
 * (a quiet sweep, an event that only deletes a pod). The composition root therefore hands out these
 * stand-ins, which load the SDK and build the client on the first call and reuse it afterwards.
 */
import type { AwsOptions } from './clients.js';
import type { Ec2Api } from './ec2.js';
import type { LambdaApi } from './lambda.js';

function once<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () => (loaded ??= load());
}

export function lazyEc2Api(options: AwsOptions): Ec2Api {
  const api = once(async () => {
    const [{ createEc2Client }, { createEc2Api }] = await Promise.all([import('./clients.js'), import('./ec2.js')]);
    return createEc2Api(createEc2Client(options));
  });
  return {
    createSnapshot: async (...args) => (await api()).createSnapshot(...args),
    describeSnapshotsByIds: async (...args) => (await api()).describeSnapshotsByIds(...args),
    describeSnapshots: async (...args) => (await api()).describeSnapshots(...args),
    deleteSnapshot: async (...args) => (await api()).deleteSnapshot(...args),
    createTags: async (...args) => (await api()).createTags(...args),
    describeVolumesByIds: async (...args) => (await api()).describeVolumesByIds(...args),
    describeVolumes: async (...args) => (await api()).describeVolumes(...args),
    deleteVolume: async (...args) => (await api()).deleteVolume(...args),
  };
}

export function lazyLambdaApi(options: AwsOptions): LambdaApi {
  const api = once(async () => {
    const [{ createLambdaClient }, { createLambdaApi }] = await Promise.all([
      import('./clients.js'),
      import('./lambda.js'),
    ]);
    return createLambdaApi(createLambdaClient(options));
  });
  return { invokeAsync: async (...args) => (await api()).invokeAsync(...args) };
}

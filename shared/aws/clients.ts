/*
 * AWS SDK v3 clients built from plain options (the composition root maps configuration onto them;
 * nothing here reads the environment).
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { LambdaClient } from '@aws-sdk/client-lambda';

export interface AwsOptions {
  region: string;
  /** Only for the simulator or a VPC endpoint; AWS's own endpoint is resolved from the region. */
  endpoint?: string;
  /** Static keys; when absent the SDK's provider chain applies (IRSA, instance role, …). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Budget for one HTTP exchange: connecting, waiting for the answer, and any idle gap while reading it. */
  requestTimeoutMs: number;
}

function clientConfig(options: AwsOptions) {
  const timeoutMs = options.requestTimeoutMs;
  return {
    region: options.region,
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    // Retries are explicit (shared/resilience.ts) so they are bounded, logged and Transient-only.
    maxAttempts: 1,
    requestHandler: {
      connectionTimeout: timeoutMs,
      requestTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      // Without this the SDK only logs a warning when requestTimeout passes and keeps waiting.
      throwOnRequestTimeout: true,
    },
  };
}

export function createEc2Client(options: AwsOptions): EC2Client {
  return new EC2Client(clientConfig(options));
}

export function createLambdaClient(options: AwsOptions): LambdaClient {
  return new LambdaClient(clientConfig(options));
}

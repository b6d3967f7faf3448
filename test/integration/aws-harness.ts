/*
 * The AWS simulator on a loopback port with real SDK clients pointed at it, for the aws-* and
 * sim-aws-* tests. Every request is offered to `sim.handle`; anything else is a 404.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { ManualClock } from '../../shared/clock.js';
import type { AwsOptions } from '../../shared/aws/clients.js';
import { createEc2Client, createLambdaClient } from '../../shared/aws/clients.js';
import { createAwsSim } from '../../sim/aws/index.js';
import type { AwsSim } from '../../sim/aws/index.js';
import { simProductEnv } from '../../sim/product-env.js';

export interface AwsHarness {
  sim: AwsSim;
  clock: ManualClock;
  options: AwsOptions;
  ec2Client: EC2Client;
  lambdaClient: LambdaClient;
  close(): Promise<void>;
}

function serve(sim: AwsSim): http.Server {
  return http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      sim.handle(req, res, Buffer.concat(chunks)).then(
        (handled) => {
          if (!handled) res.writeHead(404).end();
        },
        (err: unknown) => {
          res.writeHead(500).end(String(err));
        },
      );
    });
  });
}

export async function startAwsHarness(settings: { requestTimeoutMs?: number } = {}): Promise<AwsHarness> {
  const clock = new ManualClock('2026-03-01T12:00:00Z');
  const sim = createAwsSim({ clock, snapshotCompletionSeconds: 60 });
  const server = serve(sim);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  // The simulator's own product settings (region, static keys), pointed at this server.
  const env = simProductEnv({ url: `http://127.0.0.1:${port}`, token: '' });
  const options: AwsOptions = {
    region: env.AWS_REGION!,
    endpoint: env.AWS_ENDPOINT_URL!,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
    requestTimeoutMs: settings.requestTimeoutMs ?? 2_000,
  };
  const ec2Client = createEc2Client(options);
  const lambdaClient = createLambdaClient(options);
  return {
    sim,
    clock,
    options,
    ec2Client,
    lambdaClient,
    close: async () => {
      ec2Client.destroy();
      lambdaClient.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

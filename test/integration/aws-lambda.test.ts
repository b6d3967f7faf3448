/*
 * Lambda invocation through the real SDK client and the simulator.
 */
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NotFound, Transient } from '../../shared/errors.js';
import type { LambdaApi } from '../../shared/aws/lambda.js';
import { createLambdaApi } from '../../shared/aws/lambda.js';
import type { AwsHarness } from './aws-harness.js';
import { startAwsHarness } from './aws-harness.js';

let h: AwsHarness;
let lambda: LambdaApi;
beforeAll(async () => {
  h = await startAwsHarness();
  lambda = createLambdaApi(h.lambdaClient);
});
afterAll(async () => {
  await h.close();
});
beforeEach(() => {
  h.sim.reset();
});

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const parse = (payload: Uint8Array | undefined) => JSON.parse(new TextDecoder().decode(payload)) as unknown;

describe('invokeAsync', () => {
  it('queues an Event invocation that the simulator records with its payload and time', async () => {
    h.sim.addFunction('availability-updater', () => {
      throw new Error('an Event invocation must not run the responder');
    });
    await lambda.invokeAsync('availability-updater', { source: 'cleanup-pod', released: 3 });
    expect(h.sim.invocations()).toEqual([
      {
        functionName: 'availability-updater',
        invocationType: 'Event',
        payload: { source: 'cleanup-pod', released: 3 },
        at: h.clock.now(),
      },
    ]);
    expect(h.sim.calls()).toEqual([
      {
        service: 'lambda',
        action: 'Invoke',
        at: h.clock.now(),
        fault: undefined,
        params: { FunctionName: 'availability-updater', InvocationType: 'Event' },
      },
    ]);
  });

  it('an unknown function is NotFound and nothing is recorded as invoked', async () => {
    await expect(lambda.invokeAsync('no-such-function', {})).rejects.toBeInstanceOf(NotFound);
    expect(h.sim.invocations()).toEqual([]);
  });

  it('throttling is Transient and carries Retry-After', async () => {
    h.sim.addFunction('availability-updater');
    h.sim.addFault({ service: 'lambda', action: 'Invoke', fault: { kind: 'throttle' } });
    const err = await lambda.invokeAsync('availability-updater', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Transient);
    expect((err as Transient).retryAfterMs).toBe(1_000);
    expect(h.sim.invocations()).toEqual([]);
  });

  it('records invocations by ARN or qualified name under the bare function name', async () => {
    h.sim.addFunction('updater');
    await lambda.invokeAsync('arn:aws:lambda:us-east-1:123456789012:function:updater:live', {});
    await lambda.invokeAsync('updater:7', {});
    expect(h.sim.invocations('updater')).toHaveLength(2);
  });
});

describe('the simulated Invoke', () => {
  it('answers RequestResponse with the responder result, and a thrown error as a function error', async () => {
    h.sim.addFunction('echo', (payload) => ({ echoed: payload }));
    h.sim.addFunction('broken', () => {
      throw new TypeError('bad input');
    });
    const ok = await h.lambdaClient.send(new InvokeCommand({ FunctionName: 'echo', Payload: json({ a: 1 }) }));
    expect(ok.StatusCode).toBe(200);
    expect(parse(ok.Payload)).toEqual({ echoed: { a: 1 } });

    const failed = await h.lambdaClient.send(new InvokeCommand({ FunctionName: 'broken', Payload: json({}) }));
    expect(failed.FunctionError).toBe('Unhandled');
    expect(parse(failed.Payload)).toEqual({ errorMessage: 'bad input', errorType: 'TypeError' });
    expect(h.sim.invocations().map((i) => [i.functionName, i.invocationType])).toEqual([
      ['echo', 'RequestResponse'],
      ['broken', 'RequestResponse'],
    ]);
  });

  it('rejects a payload that is not JSON, like Lambda', async () => {
    h.sim.addFunction('echo');
    const err = await h.lambdaClient
      .send(new InvokeCommand({ FunctionName: 'echo', Payload: new TextEncoder().encode('{oops') }))
      .catch((e: unknown) => e as { name: string; $metadata: { httpStatusCode: number } });
    expect(err).toMatchObject({ name: 'InvalidRequestContentException', $metadata: { httpStatusCode: 400 } });
    expect(h.sim.invocations()).toEqual([]);
  });
});

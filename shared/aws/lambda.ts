/*
 * Lambda invocation. Only asynchronous (`Event`) invocation is needed: the availability updater is
 * fire-and-forget, and Lambda retries a failed async run itself.
 */
import { InvokeCommand } from '@aws-sdk/client-lambda';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { Fatal } from '../errors.js';
import { callAws } from './errors.js';

export interface LambdaApi {
  /**
   * Queues one asynchronous invocation of `functionName` with `payload` as JSON.
   * @throws NotFound when the function does not exist; Transient when throttled
   */
  invokeAsync(functionName: string, payload: unknown, signal?: AbortSignal): Promise<void>;
}

export function createLambdaApi(client: LambdaClient): LambdaApi {
  return {
    invokeAsync: (functionName, payload, signal) =>
      callAws(`Lambda Invoke ${functionName}`, async () => {
        const command = new InvokeCommand({
          FunctionName: functionName,
          InvocationType: 'Event',
          Payload: new TextEncoder().encode(JSON.stringify(payload ?? {})),
        });
        const out = await client.send(command, { abortSignal: signal });
        // Lambda accepts an Event invocation with 202; anything else means it was not queued.
        if (out.StatusCode !== 202)
          throw new Fatal(`Lambda Invoke ${functionName}: expected status 202, got ${out.StatusCode}`);
      }),
  };
}

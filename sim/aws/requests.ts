/*
 * Recognising AWS requests and writing answers. A request is EC2 when it is `POST /` with a form
 * body carrying `Action`, Lambda when it is `POST /2015-03-31/functions/{name}/invocations`.
 */
import type http from 'node:http';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SimAnswer } from './answer.js';
import type { AwsService } from './aws-faults.js';
import type { Ec2Sim } from './ec2-sim.js';
import { parseForm } from './ec2-params.js';
import type { LambdaSim } from './lambda.js';
import { parseLambdaRequest } from './lambda.js';

export interface AwsRequest {
  service: AwsService;
  action: string;
  params: Record<string, string>;
  run: () => SimAnswer;
}

export function classify(
  req: http.IncomingMessage,
  body: Buffer,
  ec2: Ec2Sim,
  lambda: LambdaSim,
): AwsRequest | undefined {
  const url = req.url ?? '/';
  const invoke = parseLambdaRequest(req.method, url, req.headers, body);
  if (invoke) {
    const params = { FunctionName: invoke.functionName, InvocationType: invoke.invocationType };
    return { service: 'lambda', action: 'Invoke', params, run: () => lambda.invoke(invoke) };
  }
  if (req.method !== 'POST' || new URL(url, 'http://sim').pathname !== '/') return undefined;
  const form = parseForm(body.toString('utf8'));
  const action = form.get('Action');
  if (action === undefined) return undefined;
  const params = Object.fromEntries([...form].filter(([key]) => key !== 'Action' && key !== 'Version'));
  return { service: 'ec2', action, params, run: () => ec2.run(action, form) };
}

/** Waits `ms`, or less if the client gives up first. */
export async function holdAnswer(res: http.ServerResponse, ms: number): Promise<void> {
  const gaveUp = new AbortController();
  await Promise.race([sleep(ms, undefined, { signal: gaveUp.signal }).catch(() => undefined), once(res, 'close')]);
  gaveUp.abort();
}

export function send(res: http.ServerResponse, answer: SimAnswer): void {
  if (res.destroyed || res.writableEnded) return;
  res.writeHead(answer.status, { ...answer.headers, 'Content-Length': Buffer.byteLength(answer.body) });
  res.end(answer.body);
}

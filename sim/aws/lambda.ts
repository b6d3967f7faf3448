/*
 * Lambda Invoke (REST-JSON): `POST /2015-03-31/functions/{name}/invocations`. Every invocation
 * that reaches a known function is recorded, so tests can assert what was invoked, how, and with
 * which payload.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../shared/clock.js';
import { simAccountId } from './ec2-state.js';
import type { SimAnswer } from './answer.js';
import { lambdaErrorAnswer } from './answer.js';
import { appendBounded } from '../kube/bounded.js';

export type InvocationType = 'Event' | 'RequestResponse' | 'DryRun';

/** Computes a RequestResponse invocation's result; a thrown error becomes a function error. */
export type LambdaResponder = (payload: unknown) => unknown;

export interface LambdaInvocation {
  functionName: string;
  invocationType: InvocationType;
  payload: unknown;
  at: Date;
}

export interface LambdaRequest {
  functionName: string;
  invocationType: string;
  body: Buffer;
}

const invokePath = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

/** The function's bare name, whether the caller used a name, `name:qualifier` or an ARN. */
function bareName(encoded: string): string {
  const name = decodeURIComponent(encoded);
  const parts = name.split(':');
  return (name.startsWith('arn:') ? parts[6] : parts[0]) ?? name;
}

export function parseLambdaRequest(
  method: string | undefined,
  url: string,
  headers: Record<string, unknown>,
  body: Buffer,
): LambdaRequest | undefined {
  const match = method === 'POST' ? invokePath.exec(new URL(url, 'http://sim').pathname) : null;
  if (!match?.[1]) return undefined;
  const type = headers['x-amz-invocation-type'];
  return {
    functionName: bareName(match[1]),
    invocationType: typeof type === 'string' ? type : 'RequestResponse',
    body,
  };
}

function parsePayload(body: Buffer): { ok: true; payload: unknown } | { ok: false; error: string } {
  if (body.length === 0) return { ok: true, payload: undefined };
  try {
    return { ok: true, payload: JSON.parse(body.toString('utf8')) };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

function respondSync(respond: LambdaResponder, payload: unknown): SimAnswer {
  const headers = {
    'Content-Type': 'application/json',
    'X-Amz-Executed-Version': '$LATEST',
    'x-amzn-RequestId': randomUUID(),
  };
  try {
    return { status: 200, headers, body: JSON.stringify(respond(payload) ?? null) };
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    const body = JSON.stringify({ errorMessage: error.message, errorType: error.name });
    return { status: 200, headers: { ...headers, 'X-Amz-Function-Error': 'Unhandled' }, body };
  }
}

export class LambdaSim {
  private readonly functions = new Map<string, LambdaResponder>();
  readonly invocations: LambdaInvocation[] = [];

  constructor(private readonly clock: Clock) {}

  addFunction(name: string, respond: LambdaResponder = () => null): void {
    this.functions.set(name, respond);
  }

  invoke(request: LambdaRequest): SimAnswer {
    const respond = this.functions.get(request.functionName);
    if (!respond) {
      const arn = `arn:aws:lambda:us-east-1:${simAccountId}:function:${request.functionName}`;
      return lambdaErrorAnswer(404, 'ResourceNotFoundException', `Function not found: ${arn}`);
    }
    const type = request.invocationType;
    if (type !== 'Event' && type !== 'RequestResponse' && type !== 'DryRun') {
      return lambdaErrorAnswer(400, 'InvalidParameterValueException', `Unsupported invocation type: ${type}`);
    }
    const parsed = parsePayload(request.body);
    if (!parsed.ok) {
      return lambdaErrorAnswer(
        400,
        'InvalidRequestContentException',
        `Could not parse request body into json: ${parsed.error}`,
      );
    }
    if (type === 'DryRun') return { status: 204, headers: { 'x-amzn-RequestId': randomUUID() }, body: '' };
    appendBounded(this.invocations, {
      functionName: request.functionName,
      invocationType: type,
      payload: parsed.payload,
      at: this.clock.now(),
    });
    // Event invocations are queued by real Lambda; nobody sees their result, so the responder is not run.
    if (type === 'Event') return { status: 202, headers: { 'x-amzn-RequestId': randomUUID() }, body: '' };
    return respondSync(respond, parsed.payload);
  }

  reset(): void {
    this.functions.clear();
    this.invocations.length = 0;
  }
}

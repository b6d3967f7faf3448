/*
 * Faults aimed at one AWS action. The combined server's route faults (sim/faults.ts) cannot tell
 * EC2 actions apart — they all arrive as `POST /` — so throttling CreateSnapshot alone, or losing
 * the response to a CreateSnapshot that did happen, is arranged here.
 */
import type { SimAnswer } from './answer.js';
import { ec2ErrorAnswer, lambdaErrorAnswer } from './answer.js';

export type AwsService = 'ec2' | 'lambda';

export type AwsFault =
  /** EC2: 503 RequestLimitExceeded; Lambda: 429 TooManyRequestsException with Retry-After: 1. */
  | { kind: 'throttle' }
  /** Answer with this error instead of running the action. */
  | { kind: 'error'; status: number; code: string; message?: string }
  /** Close the connection without running the action or answering. */
  | { kind: 'reset' }
  /** Run the action, then close the connection: the caller never learns that it happened. */
  | { kind: 'lose-response' }
  /** Run the action, then hold the answer for `delayMs` of real time (to outlast client timeouts). */
  | { kind: 'delay'; delayMs: number };

export interface AwsFaultRule {
  service: AwsService;
  /** EC2 `Action` (e.g. `CreateSnapshot`) or `Invoke`; every action of the service when absent. */
  action?: string;
  /** How many matching requests to affect; 1 when absent. */
  times?: number;
  fault: AwsFault;
}

export class FaultBook {
  private rules: { rule: AwsFaultRule; left: number }[] = [];

  add(rule: AwsFaultRule): void {
    this.rules.push({ rule, left: rule.times ?? 1 });
  }

  /** The first armed fault for this request, consuming one use of it. */
  take(service: AwsService, action: string): AwsFault | undefined {
    const armed = this.rules.find(
      ({ rule, left }) => left > 0 && rule.service === service && (rule.action === undefined || rule.action === action),
    );
    if (!armed) return undefined;
    armed.left--;
    this.rules = this.rules.filter((r) => r.left > 0);
    return armed.rule.fault;
  }

  clear(): void {
    this.rules = [];
  }
}

/** The answer a throttle or error fault gives in the service's own error format. */
export function faultAnswer(service: AwsService, fault: AwsFault & { kind: 'throttle' | 'error' }): SimAnswer {
  if (fault.kind === 'throttle') {
    return service === 'ec2'
      ? ec2ErrorAnswer(503, 'RequestLimitExceeded', 'Request limit exceeded.')
      : lambdaErrorAnswer(429, 'TooManyRequestsException', 'Rate Exceeded.', { 'Retry-After': '1' });
  }
  const message = fault.message ?? `Injected ${fault.code}`;
  return service === 'ec2'
    ? ec2ErrorAnswer(fault.status, fault.code, message)
    : lambdaErrorAnswer(fault.status, fault.code, message);
}

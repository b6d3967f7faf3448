/*
 * Route faults for the combined simulator: a rule matches a request by method and path and then
 * delays it, answers it with an error, resets the connection, or (for watch requests) drops the
 * stream after it opened. Kubernetes errors are v1 Status bodies; a rule with `awsErrorCode`
 * answers in the EC2 Query error format instead. Faults aimed at one EC2 action live with the AWS
 * simulator (sim/aws/aws-faults.ts), because every EC2 action arrives as `POST /`.
 *
 * Randomness (`probability`) comes from a seeded generator, so a test run is repeatable.
 */
import { randomUUID } from 'node:crypto';
import { statusBody } from './kube/status.js';

export interface FaultRule {
  /** HTTP method, any case; every method when absent. */
  method?: string;
  /** A string matches the path exactly (no query); a RegExp is tested against path + query. */
  path: string | RegExp;
  /** Answer with this status instead of serving the request. */
  status?: number;
  /** The whole answer body for `status`; a v1 Status (or the EC2 error) is built when absent. */
  body?: object;
  /** With `status`: render the answer as an EC2 Query error with this code. */
  awsErrorCode?: string;
  /** For a 429 (or any status): the Retry-After header, in seconds. */
  retryAfterSeconds?: number;
  /** Chance (0..1) that a matching request is affected; 1 when absent. */
  probability?: number;
  /** Affect this many requests, then the rule is spent; unlimited when absent. */
  count?: number;
  /** Hold the request this long first (real time); alone, the request is then served normally. */
  delayMs?: number;
  /** Destroy the connection instead of answering. */
  reset?: boolean;
  /** Watch requests only: serve the stream, then destroy the connection (after `delayMs`, default at once). */
  dropWatch?: boolean;
  /** The name this rule's faults are counted under in `fired()`; derived from the effect when absent. */
  label?: string;
  /** The rule stops matching at this instant, on the simulator's clock (e.g. "fail for ten minutes"). */
  until?: Date;
}

export type FaultEffect =
  | { kind: 'answer'; status: number; contentType: string; body: string; headers: Record<string, string> }
  | { kind: 'reset' }
  | { kind: 'dropWatch'; afterMs: number }
  | { kind: 'none' };

export interface Fault {
  delayMs: number;
  effect: FaultEffect;
}

/** mulberry32: a tiny seeded generator, good enough to make fault probabilities repeatable. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function ec2Error(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`;
}

function answerFor(rule: FaultRule & { status: number }): FaultEffect {
  const headers: Record<string, string> =
    rule.retryAfterSeconds !== undefined ? { 'Retry-After': String(rule.retryAfterSeconds) } : {};
  const message = `fault injected by the simulator (HTTP ${rule.status})`;
  if (rule.awsErrorCode !== undefined) {
    const body = rule.body ? JSON.stringify(rule.body) : ec2Error(rule.awsErrorCode, message);
    return {
      kind: 'answer',
      status: rule.status,
      contentType: rule.body ? 'application/json' : 'text/xml;charset=UTF-8',
      body,
      headers,
    };
  }
  const details = rule.retryAfterSeconds !== undefined ? { retryAfterSeconds: rule.retryAfterSeconds } : undefined;
  const body = JSON.stringify(rule.body ?? statusBody(rule.status, message, undefined, details));
  return { kind: 'answer', status: rule.status, contentType: 'application/json', body, headers };
}

function effectOf(rule: FaultRule): FaultEffect {
  if (rule.reset) return { kind: 'reset' };
  if (rule.dropWatch) return { kind: 'dropWatch', afterMs: rule.delayMs ?? 0 };
  if (rule.status !== undefined) return answerFor({ ...rule, status: rule.status });
  return { kind: 'none' };
}

/** `reset`, `drop-watch`, `delay`, the EC2 error code, or `http-<status>`. */
function labelOf(rule: FaultRule): string {
  if (rule.label !== undefined) return rule.label;
  if (rule.reset) return 'reset';
  if (rule.dropWatch) return 'drop-watch';
  if (rule.status !== undefined) return rule.awsErrorCode ?? `http-${rule.status}`;
  return 'delay';
}

export class Faults {
  private rules: { rule: FaultRule; left: number }[] = [];
  private counts = new Map<string, number>();

  constructor(
    private readonly random: () => number,
    private readonly now: () => Date = () => new Date(),
  ) {}

  add(rule: FaultRule): void {
    if (rule.probability !== undefined && !(rule.probability >= 0 && rule.probability <= 1)) {
      throw new RangeError(`fault probability must be within 0..1, got ${rule.probability}`);
    }
    this.rules.push({ rule, left: rule.count ?? Infinity });
  }

  /** Removes the rules (only those with this label, when given); the counts of faults already fired stay. */
  clear(label?: string): void {
    this.rules = label === undefined ? [] : this.rules.filter(({ rule }) => labelOf(rule) !== label);
  }

  /** The rules still armed, with the uses left (null: unlimited). */
  active(): { rule: FaultRule; label: string; left: number | null }[] {
    const now = this.now().getTime();
    return this.rules
      .filter(({ rule }) => rule.until === undefined || rule.until.getTime() > now)
      .map(({ rule, left }) => ({ rule, label: labelOf(rule), left: Number.isFinite(left) ? left : null }));
  }

  /** How many faults fired since the simulator started, by rule label. */
  fired(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  /**
   * The fault for this request: matching rules are tried in the order they were added, each with
   * its own chance, and the first that fires wins and spends one use.
   */
  take(method: string, url: URL, isWatch: boolean): Fault | undefined {
    const armed = this.rules.find(
      ({ rule, left }) =>
        left > 0 &&
        this.matches(rule, method, url, isWatch) &&
        (rule.probability === undefined || this.random() < rule.probability),
    );
    if (!armed) return undefined;
    const { rule } = armed;
    armed.left -= 1;
    this.rules = this.rules.filter((r) => r.left > 0);
    const label = labelOf(rule);
    this.counts.set(label, (this.counts.get(label) ?? 0) + 1);
    return { delayMs: rule.dropWatch ? 0 : (rule.delayMs ?? 0), effect: effectOf(rule) };
  }

  private matches(rule: FaultRule, method: string, url: URL, isWatch: boolean): boolean {
    if (rule.until !== undefined && rule.until.getTime() <= this.now().getTime()) return false;
    if (rule.method !== undefined && rule.method.toUpperCase() !== method.toUpperCase()) return false;
    if (rule.dropWatch && !isWatch) return false;
    if (typeof rule.path === 'string') return rule.path === url.pathname;
    rule.path.lastIndex = 0; // a /g or /y pattern keeps state between tests
    return rule.path.test(url.pathname + url.search);
  }
}

/*
 * What every stage of a snapshot-sync run shares: the action cap (maxItems) and the time budget,
 * EC2 calls with retries, transactions that carry their decision-log entries, and the report
 * (counters, failures, dry-run items). A failure is always reported, never swallowed (SPEC 5.8).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Deps } from '../../shared/deps.js';
import { appendDecisions } from '../../shared/db/queries/decisions.js';
import type { Decision } from '../../shared/db/queries/decisions.js';
import type { Db } from '../../shared/db/pool.js';
import { withTransaction } from '../../shared/db/transaction.js';
import { isThrottled } from '../../shared/aws/errors.js';
import { coerceError } from '../../shared/errors.js';
import { withRetries } from '../../shared/resilience.js';
import type { RetryPolicyOptions } from '../../shared/resilience.js';
import type { RunReport, RunScope } from '../../shared/runtime/run-scope.js';

export type SyncDeps = Pick<Deps, 'config' | 'pool' | 'ec2' | 'metrics'>;
type Item = NonNullable<RunReport['items']>[number];
type DecisionEntry = Omit<Decision, 'runId' | 'fn' | 'outcome'> & { outcome?: Decision['outcome'] };

const FN = 'snapshot-sync';

/** The origin's run-summary keys, always present so dashboards see zeros rather than gaps. */
const ORIGIN_COUNTERS = ['snapshots_created', 'snapshots_completed', 'snapshots_failed', 'volumes_deleted',
  'deleted_snapshots', 'tagged_snapshots', 'synced_disks'];

const STOP_AT_BUDGET_FRACTION = 0.8;

export class SyncContext {
  readonly summary: Record<string, number> = Object.fromEntries(ORIGIN_COUNTERS.map((key) => [key, 0]));
  readonly failures: string[] = [];
  readonly items: Item[] = [];
  private actionsLeft: number;
  readonly retry: RetryPolicyOptions;

  /**
   * No stage or action starts after this: 80% of the run's budget, so what is under way when it
   * passes (and the outbox delivery after the run) still ends inside the budget.
   */
  readonly stopAt: Date;

  constructor(readonly scope: RunScope, readonly deps: SyncDeps) {
    const startedAt = scope.now().getTime();
    this.stopAt = new Date(startedAt + (scope.deadline.getTime() - startedAt) * STOP_AT_BUDGET_FRACTION);
    this.actionsLeft = scope.maxItems;
    this.retry = { maxAttempts: 3, initialDelayMs: 200, maxDelayMs: 2_000, callTimeoutMs: deps.config.aws.requestTimeoutMs + 1_000 };
  }

  get dryRun(): boolean {
    return this.scope.dryRun;
  }

  get concurrency(): number {
    return this.deps.config.run.concurrency;
  }

  now(): Date {
    return this.scope.now();
  }

  count(key: string, by = 1): void {
    this.summary[key] = (this.summary[key] ?? 0) + by;
  }

  /** May another action start? Counts what is left for the next run when not. */
  take(): boolean {
    if (this.pastStop()) return this.defer('deferred_deadline');
    if (this.actionsLeft <= 0) return this.defer('deferred_max_items');
    this.actionsLeft -= 1;
    return true;
  }

  /** Past the point where nothing new starts (see stopAt). */
  pastStop(): boolean {
    return this.now() >= this.stopAt;
  }

  /** In a dry run: note what would be done instead of doing it. */
  plan(action: string, fields: Record<string, string | null>, reason: string): void {
    this.items.push({ action, ...fields, reason });
    this.count('planned_actions');
  }

  done(kind: string, outcome: 'done' | 'failed' | 'skipped' = 'done'): void {
    this.deps.metrics.actions.inc({ function: FN, kind, outcome });
  }

  fail(kind: string, subject: string, err: unknown): void {
    const message = coerceError(err).message;
    this.failures.push(`${kind} ${subject}: ${message}`);
    this.count('actions_failed');
    this.done(kind, 'failed');
    this.scope.log.error({ err: coerceError(err), kind, subject }, 'snapshot-sync action failed');
  }

  /** A failed action on an entity: reported, and kept in the decision log with its error. */
  async failAction(kind: string, entity: Pick<Decision, 'entityKind' | 'entityId' | 'inputs'>, err: unknown): Promise<void> {
    this.fail(kind, entity.entityId, err);
    const error = coerceError(err).message;
    const decision: DecisionEntry = { ...entity, action: kind, reason: 'the action failed; a later run retries it', outcome: 'failed', error };
    // The failure is already reported; losing its log entry too (the database is down) adds nothing.
    await this.logDecisions(this.deps.pool, [decision]).catch(() => undefined);
  }

  /** One EC2 call, retried on Transient errors (throttling, 5xx, timeouts). */
  aws<T>(call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return withRetries(call, this.retry);
  }

  /**
   * An EC2 call that must not be repeated blindly (CreateSnapshot): retried only when EC2 refused it
   * outright (throttling). A timeout or a lost answer may hide a success, so it is left to the next
   * run, which looks for the result by its request token first.
   */
  async awsOnce<T>(call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await withRetries(call, { ...this.retry, maxAttempts: 1 });
      } catch (err) {
        if (!isThrottled(err) || attempt >= this.retry.maxAttempts) throw err;
        await sleep(this.retry.initialDelayMs * 2 ** (attempt - 1));
      }
    }
  }

  /** A transaction that also appends its decisions (outcome `applied` unless given). */
  async tx<T>(work: (db: Db) => Promise<{ value: T; decisions: DecisionEntry[] }>): Promise<T> {
    return withTransaction(this.deps.pool, async (client) => {
      const { value, decisions } = await work(client);
      await this.logDecisions(client, decisions);
      return value;
    });
  }

  async logDecisions(db: Db, decisions: DecisionEntry[]): Promise<void> {
    const rows = decisions.map((d): Decision => ({ ...d, outcome: d.outcome ?? 'applied', runId: this.scope.runId, fn: FN }));
    await appendDecisions(db, rows, this.now());
  }

  report(): RunReport {
    const deferred = (this.summary.deferred_deadline ?? 0) + (this.summary.deferred_max_items ?? 0);
    const unexplained = this.summary.disks_backing_up_unexplained ?? 0;
    const notes = [
      ...(deferred > 0 ? [`${deferred} action(s) left for the next run (time budget or maxItems)`] : []),
      // Not synced, and said so: a disk stays backing up until someone accounts for its snapshots.
      ...(unexplained > 0 ? [`${unexplained} disk(s) still backing up with snapshots nobody accounts for`] : []),
    ];
    return {
      summary: this.summary,
      failures: this.failures,
      ...(notes.length > 0 ? { message: notes.join('; ') } : {}),
      ...(this.dryRun ? { items: this.items } : {}),
    };
  }

  private defer(key: string): false {
    this.count(key);
    return false;
  }
}

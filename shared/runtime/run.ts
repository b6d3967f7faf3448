/*
 * The run kernel's state: what one run of a function has counted, failed and planned, and the one
 * commit path. A commit writes the state change, its decision-log entries and its events (outbox)
 * in one transaction — and, for an event run, the inbox record of the CloudEvent with the first
 * effect, so a run killed between the two cannot exist. Functions never see dry run, maxItems,
 * the time budget or metrics: `decideAndExecute` (decide-and-execute.ts) owns those for a sweep,
 * `runRequest` (request-run.ts) for one request a caller waits on.
 */
import type pg from 'pg';
import type { Decision } from '../db/queries/decisions.js';
import { appendDecisions } from '../db/queries/decisions.js';
import type { Db } from '../db/pool.js';
import type { OutboxRecords } from '../db/queries/outbox.js';
import { withTransaction } from '../db/transaction.js';
import { coerceError } from '../errors.js';
import type { LifecycleEvent } from '../events/build.js';
import type { Item } from '../plan.js';
import type { Metrics } from './metrics.js';
import type { RunReport, RunScope } from './run-scope.js';

export type { Action, Item } from '../plan.js';

/** A decision-log entry as a function writes it; the kernel adds the run, the function and the default outcome. */
export type DecisionEntry = Omit<Decision, 'runId' | 'fn' | 'outcome'> & { outcome?: Decision['outcome'] };

export interface Committed<T> {
  value: T;
  decisions?: DecisionEntry[];
  events?: LifecycleEvent[];
  /** Events whose outbox rows the work wrote itself, from `run.outboxRecords`, in its own statement. */
  staged?: LifecycleEvent[];
}

export interface KernelServices {
  pool: pg.Pool;
  metrics: Metrics;
}

/** The event this run consumes was already processed by this function (a duplicate delivery). */
export class DuplicateDelivery extends Error {
  constructor() {
    super('the event was already processed by this function');
    this.name = 'DuplicateDelivery';
  }
}

export class Run {
  readonly summary: Record<string, number>;
  readonly failures: string[] = [];
  readonly items: Item[] = [];
  /** Actions started so far, across every stage of the run: maxItems caps their sum. */
  started = 0;
  private inboxRecorded = false;
  /** The commit now trying to record the event, if any. */
  private claiming: Promise<void> | undefined;

  constructor(
    readonly scope: RunScope,
    private readonly services: KernelServices,
    counters: readonly string[] = [],
  ) {
    // Always present, so dashboards see zeros rather than gaps.
    this.summary = Object.fromEntries(counters.map((key) => [key, 0]));
  }

  get fn() {
    return this.scope.fn;
  }

  get log() {
    return this.scope.log;
  }

  get metrics(): Metrics {
    return this.services.metrics;
  }

  now(): Date {
    return this.scope.now();
  }

  count(key: string, by = 1): void {
    this.summary[key] = (this.summary[key] ?? 0) + by;
  }

  /**
   * Whether the run's budget is spent (scope.deadline): from then on nothing new starts, neither an
   * action, a batch, a stage nor a load's further read; what is in flight ends and the run closes.
   */
  get pastDeadline(): boolean {
    return this.now() >= this.scope.deadline;
  }

  /** How many more actions maxItems lets this run start. */
  get itemsLeft(): number {
    return Math.max(0, this.scope.maxItems - this.started);
  }

  /**
   * A failure outside any action (a read that `load` needed and could not make): reported and
   * counted like a failed action, so the run ends `failed`, while the rest of the run goes on.
   */
  fail(kind: string, subject: string, err: unknown): void {
    const error = coerceError(err);
    this.count('actions_failed');
    this.metrics.actions.inc({ function: this.fn, kind, outcome: 'failed' });
    this.failures.push(`${kind} ${subject}: ${error.message}`);
    this.log.error({ err: error, kind, subject }, 'a read the run needed failed; a later run retries it');
  }

  /**
   * One transaction: `work`'s writes, then its decisions and events. For an event run the first
   * commit also records the CloudEvent in the inbox; a duplicate delivery rolls the commit back
   * and throws DuplicateDelivery, which the kernel (execute-actions.ts, execute-batches.ts) counts and which stops the run's work.
   */
  async commit<T>(work: (db: Db) => Promise<Committed<T>>): Promise<T> {
    // Commits in flight together (a fan-out) must not both try to record the event: the second
    // would wait on the first's uncommitted inbox row and then read it as a duplicate delivery.
    // So until one commit has recorded it, each waits for the commit that is trying.
    while (!this.inboxRecorded && this.claiming) await this.claiming;
    if (this.inboxRecorded) return this.transact(work, false);
    const attempt = this.transact(work, true);
    const settled = attempt.then(
      () => undefined,
      () => undefined,
    );
    this.claiming = settled;
    void settled.then(() => {
      if (this.claiming === settled) this.claiming = undefined;
    });
    return attempt;
  }

  private async transact<T>(work: (db: Db) => Promise<Committed<T>>, claim: boolean): Promise<T> {
    const value = await withTransaction(this.services.pool, async (db) => {
      if (claim && !(await this.scope.claimEvent(db))) throw new DuplicateDelivery();
      const { value: result, decisions = [], events = [], staged = [] } = await work(db);
      await appendDecisions(
        db,
        decisions.map((entry) => this.decision(entry)),
        this.now(),
      );
      if (events.length > 0) await this.scope.stage(db, events);
      if (staged.length > 0) this.scope.staged(staged);
      return result;
    });
    if (claim) {
      this.inboxRecorded = true;
      this.scope.claimCommitted();
    }
    return value;
  }

  /**
   * The outbox rows of `events`, for a commit's work that writes its state change and their events
   * in one statement (outboxInsertSql) and returns the ones it wrote as `staged`; undefined when
   * there is nothing to write (a dry run, publishing off).
   */
  outboxRecords(events: LifecycleEvent[]): OutboxRecords | undefined {
    return this.scope.outboxRecords(events);
  }

  /** Decisions outside any state change (a failure's record): best effort, never fatal. */
  async record(decisions: DecisionEntry[]): Promise<void> {
    await this.append(decisions).catch((err: unknown) =>
      this.log.error({ err }, 'could not write to the decision log'),
    );
  }

  /** Decisions that are the run's whole effect (a rail's evidence, shadow decisions): a failure fails the run. */
  async append(decisions: DecisionEntry[]): Promise<void> {
    await appendDecisions(
      this.services.pool,
      decisions.map((entry) => this.decision(entry)),
      this.now(),
    );
  }

  report(message?: string): RunReport {
    const deferred = this.summary.deferred ?? 0;
    const notes = [
      message,
      deferred > 0 ? `${deferred} action(s) left for the next run (time budget or maxItems)` : undefined,
    ].filter((note): note is string => note !== undefined && note !== '');
    return {
      summary: this.summary,
      failures: this.failures,
      ...(notes.length > 0 ? { message: notes.join('; ') } : {}),
      ...(this.scope.dryRun ? { items: this.items } : {}),
    };
  }

  private decision(entry: DecisionEntry): Decision {
    return { ...entry, outcome: entry.outcome ?? 'applied', runId: this.scope.runId, fn: this.scope.fn };
  }
}

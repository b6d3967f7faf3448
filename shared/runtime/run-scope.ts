/*
 * What every run shares, around a function's own work: a runs-table row from start to end,
 * single-flight for scheduled runs, the global pause switch, and after the work the delivery of
 * the events this run staged, then of older outbox events in pages while the budget lasts. A run
 * whose actions failed ends `failed` (SPEC 5.8), never "succeeded after swallowed errors"; an
 * event run a safety rail halted before the event was recorded does not acknowledge it. Each
 * run first closes, as `abandoned`, the rows its function's killed runs left `running`. The
 * bookkeeping costs two round trips: one statement opens the run (lock, reaping, its row, the
 * database's clock for clock sanity), one closes it (its row and the lock).
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { coerceError } from '../errors.js';
import type { Db } from '../db/pool.js';
import { finishRun, openRun } from '../db/queries/runs.js';
import type { AdvisoryKey, RunEnd } from '../db/queries/runs.js';
import { isEventRecorded, recordProcessedEvent, releaseProcessedEvent } from '../db/queries/inbox.js';
import { outboxBacklog, outboxRecords } from '../db/queries/outbox.js';
import type { HeldEvent, OutboxRecords } from '../db/queries/outbox.js';
import { singleFlightKey, withHeldConnection } from '../db/single-flight.js';
import type { LifecycleEvent } from '../events/build.js';
import { drainOutbox, outboxContent, outboxRowsFor, stageEvents } from '../events/outbox.js';
import type { DrainOptions, DrainReport, FlushReport, PublishMode } from '../events/outbox.js';
import { runLogger } from '../log.js';
import { sourceOf } from './classify.js';
import type { BaseOptions, FunctionName, Invocation, RunResult } from './invocation.js';
import type { Metrics } from './metrics.js';
import type { ClockReading } from './rails/clock.js';
import { clockReading } from './rails/clock.js';
import type { RailsSettings } from './rails/settings.js';

export interface RunServices {
  pool: pg.Pool;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  publish: PublishMode;
  paused: boolean;
  defaultMaxItems: number;
  budgetSeconds: number;
  deliveryTimeoutMs: number;
  concurrency: number;
  /** EVENT_MAX_ATTEMPTS (its default when absent). */
  eventMaxAttempts?: number;
  /** The safety rails for functions on the kernel (deps.ts always sets them; absent: none). */
  rails?: RailsSettings;
}

/** How long past its budget a run may still be working before its row counts as abandoned. */
export const ABANDON_MARGIN_SECONDS = 600;

/** Older outbox rows leased at a time, after the run's own events. */
export const REDELIVERY_PAGE_SIZE = 100;

export interface RunScope {
  runId: string;
  fn: FunctionName;
  log: Logger;
  dryRun: boolean;
  maxItems: number;
  /** Stop starting new work after this instant: urgent work goes first, the rest waits. */
  deadline: Date;
  now(): Date;
  /** The function's clock against the database's, read with the statement that opened the run. */
  clockReading?: ClockReading;
  /** Write events in the caller's transaction; they are delivered after the run's work. */
  stage(db: Db, events: LifecycleEvent[]): Promise<void>;
  /**
   * What `stage` would write for `events`, for a write that inserts them itself within its own
   * statement (outboxInsertSql), so a state change and its events cost one round trip. Undefined
   * when there is nothing to write: in a dry run, or with publishing off. `staged` then tells the
   * run which of the events that statement wrote.
   */
  outboxRecords(events: LifecycleEvent[]): OutboxRecords | undefined;
  staged(events: LifecycleEvent[]): void;
  /**
   * For an event run: record the CloudEvent (source, id) as processed by this function, in the
   * caller's transaction with its effect. False means a duplicate delivery: skip the effect.
   */
  claimEvent(db: Db): Promise<boolean>;
  /**
   * The transaction of the claim just made committed: only now is the inbox record this run's to
   * give back if the run fails. A claim rolled back with its transaction never is, so a release can
   * never remove the record a duplicate delivery made meanwhile, at the same instant or not.
   */
  claimCommitted(): void;
}

export interface RunReport {
  summary: Record<string, number>;
  /** Actions that failed; any failure makes the run `failed`. */
  failures: string[];
  message?: string;
  items?: RunResult['items'];
  /** Set when a safety rail withheld destructive actions: the run ends `halted`, with this as its error. */
  halted?: string;
}

export async function runScoped(
  services: RunServices,
  fn: FunctionName,
  invocation: Invocation<BaseOptions>,
  work: (scope: RunScope) => Promise<RunReport>,
): Promise<RunResult> {
  const dryRun = invocation.options.dryRun || services.paused;
  // Dry runs take no locks (B-11); scheduled runs of one function never overlap: the lock is held
  // by a connection of the run's own, taken with its row and released with it.
  if (invocation.kind !== 'schedule' || dryRun)
    return recorded(services, fn, invocation, dryRun, work, { db: services.pool });
  return withHeldConnection(services.pool, (client, broken) =>
    recorded(services, fn, invocation, dryRun, work, { db: client, lock: singleFlightKey(fn), broken }),
  );
}

/** Where a run's row is written: its own connection and lock for a scheduled run, else the pool. */
interface Bookkeeping {
  db: Db;
  lock?: AdvisoryKey;
  /** The lock's connection failed to close the run: it is destroyed, which releases the lock. */
  broken?: () => void;
}

async function recorded(
  services: RunServices,
  fn: FunctionName,
  invocation: Invocation<BaseOptions>,
  dryRun: boolean,
  work: (scope: RunScope) => Promise<RunReport>,
  book: Bookkeeping,
): Promise<RunResult> {
  const runId = randomUUID();
  const startedAt = services.clock.now();
  // A session lock taken by a statement that then failed stays held: that connection is destroyed.
  const opened = await openRun(
    book.db,
    {
      id: runId,
      fn,
      trigger: invocation.kind,
      source: sourceOf(invocation),
      ...invocationIds(invocation),
      dryRun,
      startedAt,
    },
    new Date(startedAt.getTime() - (services.budgetSeconds + ABANDON_MARGIN_SECONDS) * 1000),
    book.lock,
  ).catch((err: unknown) => {
    book.broken?.();
    throw err;
  });
  if (!opened.locked) return { outcome: 'skipped', summary: {}, message: 'skipped: already running' };
  const log = runLogger(services.log, { fn, runId, trigger: invocation.kind });
  if (opened.reaped > 0)
    log.warn({ reaped: opened.reaped }, 'closed runs left running by a killed process as abandoned');
  const staged: string[] = [];
  let stagedRows = 0;
  // What this run staged, as staged: it sends its committed rows from here, not read back.
  const held = new Map<string, HeldEvent>();
  // When this run recorded the event, once the claim's transaction committed (claimCommitted): the
  // record a failed run gives back. A claim still pending may yet roll back.
  let claimPending: Date | undefined;
  let claimedAt: Date | undefined;
  // The trace that reached this run continues in every event it publishes (W3C traceparent).
  const traceparent = invocation.kind === 'event' ? invocation.event.traceparent : invocation.traceparent;
  const traced = (event: LifecycleEvent): LifecycleEvent =>
    event.traceparent || !traceparent ? event : { ...event, traceparent };
  // The rows this run stages are born leased to it (see heldUntil), and it sends them as staged.
  const leaseFrom = (now: Date) => ({
    owner: runId,
    until: heldUntil(now, scope.deadline, services.deliveryTimeoutMs),
  });
  const remember = (outgoing: LifecycleEvent[], rows: number) => {
    stagedRows += rows;
    staged.push(...outgoing.map((event) => event.id));
    for (const event of outgoing) held.set(event.id, outboxContent(event));
  };
  const scope: RunScope = {
    runId,
    fn,
    log,
    dryRun,
    maxItems: invocation.options.maxItems ?? services.defaultMaxItems,
    deadline: new Date(startedAt.getTime() + services.budgetSeconds * 1000),
    now: () => services.clock.now(),
    clockReading: clockReading(startedAt, opened.databaseNow, services.clock.now()),
    stage: async (db, events) => {
      if (dryRun) return;
      const now = services.clock.now();
      const outgoing = events.map(traced);
      remember(outgoing, await stageEvents(db, outgoing, services.publish, now, leaseFrom(now)));
    },
    outboxRecords: (events) => {
      if (dryRun) return undefined;
      const rows = outboxRowsFor(events.map(traced), services.publish);
      if (rows.length === 0) return undefined;
      const now = services.clock.now();
      return outboxRecords(rows, now, leaseFrom(now));
    },
    staged: (events) => {
      const outgoing = events.map(traced);
      remember(outgoing, outboxRowsFor(outgoing, services.publish).length);
    },
    claimEvent: async (db) => {
      if (invocation.kind !== 'event') return true;
      if (dryRun) return true;
      const { source, id, type } = invocation.event;
      const at = services.clock.now();
      const inserted = await recordProcessedEvent(db, { consumer: fn, source, eventId: id, type }, at);
      if (inserted) claimPending = at;
      return inserted;
    },
    claimCommitted: () => {
      claimedAt = claimPending;
    },
  };
  // A failed event run gives its claim back: the platform retries a 5xx, and that retry must work.
  const releaseClaim = async () => {
    if (!claimedAt || invocation.kind !== 'event') return;
    await releaseProcessedEvent(
      services.pool,
      { consumer: fn, source: invocation.event.source, eventId: invocation.event.id },
      claimedAt,
    ).catch((err: unknown) =>
      log.error({ err }, 'could not release the event claim; the scheduled sweep will catch up'),
    );
  };
  // Read back rather than trusted from this run's claim: a duplicate delivery may have recorded the
  // event, and a claim this run made may have rolled back or been given back since.
  const eventRecorded = async () =>
    invocation.kind !== 'event' ||
    isEventRecorded(services.pool, { consumer: fn, source: invocation.event.source, eventId: invocation.event.id });
  const close = async (end: RunEnd) => {
    if (!book.lock) return finishRun(book.db, runId, end);
    try {
      await finishRun(book.db, runId, end, book.lock);
    } catch (err) {
      // The lock's session failed: destroyed, it holds no lock; the row is closed over the pool.
      book.broken?.();
      log.warn({ err }, "the run's lock connection failed at the end; closing the run row without it");
      await finishRun(services.pool, runId, end);
    }
  };
  try {
    const report = await work(scope);
    if (report.failures.length > 0) await releaseClaim();
    // Within the run's budget: what is not sent by the deadline stays in the outbox for the next run.
    const delivery = dryRun
      ? undefined
      : await deliver(services, runId, { eventIds: staged, held, ownRows: stagedRows }, scope.deadline);
    if (opened.reaped > 0) report.summary = { ...report.summary, runs_abandoned: opened.reaped };
    const eventHeld = report.halted !== undefined && !(await eventRecorded());
    const event = { isEvent: invocation.kind === 'event', held: eventHeld };
    return await finish(services, scope, report, delivery, event, close);
  } catch (err) {
    const error = coerceError(err);
    log.error({ err: error }, 'run failed');
    await releaseClaim();
    await close({ outcome: 'failed', counts: {}, error: error.message, finishedAt: services.clock.now() });
    throw err;
  }
}

/**
 * How the run answers the event it consumes, if any: `held` when a safety rail halted it before the
 * event was recorded in the inbox. Such an event is not acknowledged (RunResult.eventHeld, HTTP
 * 503), so the platform delivers it again: answered 2xx, it would be dropped with no trace in the
 * inbox, its work left to whatever sweep might find it.
 */
interface EventAnswer {
  isEvent: boolean;
  held: boolean;
}

/**
 * How long a run holds the events it stages: no send starts at or after its deadline, and one in
 * flight then ends within the delivery timeout; a margin of one more timeout covers the marking.
 * A run killed before sending leaves them to any later run after that.
 */
function heldUntil(now: Date, deadline: Date, deliveryTimeoutMs: number): Date {
  return new Date(Math.max(now.getTime(), deadline.getTime()) + 2 * deliveryTimeoutMs);
}

function invocationIds(invocation: Invocation<BaseOptions>) {
  if (invocation.kind === 'event')
    return { callId: invocation.callId, eventId: invocation.event.id, eventType: invocation.event.type };
  return { callId: invocation.callId };
}

/**
 * The run's own events first, then older ones in pages until the deadline. The backlog gauges are
 * set from the last marking statement; a run that leased nothing leaves them as they are (between
 * runs, pod-watch's fleet gauges hold the outbox's backlog).
 */
async function deliver(
  services: RunServices,
  owner: string,
  own: Pick<DrainOptions, 'eventIds' | 'held' | 'ownRows'>,
  deadline: Date,
): Promise<DrainReport> {
  const report = await drainOutbox({
    db: services.pool,
    publish: services.publish,
    now: () => services.clock.now(),
    owner,
    ...own,
    pageSize: REDELIVERY_PAGE_SIZE,
    timeoutMs: services.deliveryTimeoutMs,
    concurrency: services.concurrency,
    maxAttempts: services.eventMaxAttempts,
    deadline,
  });
  for (const [reason, count] of Object.entries(report.dead)) services.metrics.eventsDeadLettered.inc({ reason }, count);
  const backlog = report.backlog ?? (report.leased ? await outboxBacklog(services.pool) : undefined);
  if (backlog) {
    services.metrics.outboxBacklog.set(backlog.undelivered);
    services.metrics.outboxDeadLetters.set(backlog.dead);
  }
  return report;
}

async function finish(
  services: RunServices,
  scope: RunScope,
  report: RunReport,
  delivery: FlushReport | undefined,
  { isEvent, held }: EventAnswer,
  close: (end: RunEnd) => Promise<void>,
): Promise<RunResult> {
  const summary = { ...report.summary };
  if (delivery) {
    summary.events_delivered = (summary.events_delivered ?? 0) + delivery.delivered;
    // An undelivered event stays in the outbox and is retried by later runs: reported, not fatal.
    summary.events_deferred = (summary.events_deferred ?? 0) + delivery.failed + (delivery.deferred ?? 0);
    // A dead-lettered one waits for an operator (metric, alert, `runs`); the run's own work stands.
    const dead = Object.values(delivery.dead).reduce((sum, count) => sum + count, 0);
    if (dead > 0) summary.events_dead_lettered = (summary.events_dead_lettered ?? 0) + dead;
  }
  // A consumed event answers 202 (accepted); Knative does not treat it as a reply to route.
  // A halt waits for an operator, so it outranks a failure that later runs retry on their own.
  const outcome =
    report.halted !== undefined ? 'halted' : report.failures.length > 0 ? 'failed' : isEvent ? 'accepted' : 'succeeded';
  const errors = [report.halted, ...report.failures.slice(0, 5)].filter((part) => part !== undefined);
  const error = errors.length > 0 ? errors.join('; ') : undefined;
  await close({ outcome, counts: summary, error, finishedAt: services.clock.now() });
  const message = [
    services.paused ? 'paused: decided and reported, changed nothing' : undefined,
    report.message,
    error,
    held ? 'event not acknowledged: deliver it again once the rail lets the run act' : undefined,
  ]
    .filter((part) => part !== undefined)
    .join(' | ');
  scope.log.info({ outcome, summary }, 'run finished');
  return {
    outcome,
    summary,
    runId: scope.runId,
    ...(message ? { message } : {}),
    ...(report.items ? { items: report.items } : {}),
    ...(held ? { eventHeld: true as const } : {}),
  };
}

/*
 * Publishing through the outbox (SPEC section 3: nothing that changed state is ever without its
 * event). `stageEvents` runs inside the transaction of the state change (a run's rows are born
 * leased to it, so it sends them after commit without leasing them again); `flushOutbox` runs after
 * commit and again at the start of later runs, so an event whose delivery failed is retried with
 * backoff until a consumer takes it. An event no retry can deliver (refused with a permanent 4xx,
 * not writable as HTTP, or out of attempts) is dead-lettered instead, on its own: the others in
 * the same flush go on as usual.
 */
import type { CloudEventV1 } from 'cloudevents';
import { DEFAULT_EVENT_MAX_ATTEMPTS } from '../config.js';
import { Transient, coerceError } from '../errors.js';
import { mapWithConcurrency } from '../resilience.js';
import type { Db } from '../db/pool.js';
import {
  enqueueEvents,
  leaseDueEvents,
  markDead,
  markDeliveredReadingBacklog,
  markFailed,
  redeliveryDelaySeconds,
  releaseUnsent,
} from '../db/queries/outbox.js';
import type {
  DeadReason,
  HeldEvent,
  InsertLease,
  OutboxBacklog,
  OutboxEventInput,
  OutboxRow,
} from '../db/queries/outbox.js';
import type { LifecycleEvent } from './build.js';
import { deliver, Undeliverable } from './deliver.js';
import { consumersOf } from './routing.js';

export type PublishMode =
  { mode: 'knative'; sinkUrl: string } | { mode: 'openfaas'; gatewayUrl: string } | { mode: 'none' };

const SINK = 'sink';

/** One outbox row per destination: the Knative sink, or each consuming function on OpenFaaS. */
function destinationsFor(event: LifecycleEvent, publish: PublishMode): string[] {
  if (publish.mode === 'none') return [];
  if (publish.mode === 'knative') return [SINK];
  return [...consumersOf(event.type)];
}

/**
 * Answers the number of outbox rows written for `events` (one per destination). With a lease, the
 * rows are the writer's to send after commit (see enqueueEvents); without, any flush may take them.
 */
export async function stageEvents(
  db: Db,
  events: LifecycleEvent[],
  publish: PublishMode,
  now: Date,
  lease?: InsertLease,
): Promise<number> {
  const rows = outboxRowsFor(events, publish);
  await enqueueEvents(db, rows, now, lease);
  return rows.length;
}

/** The outbox rows of `events`: one per destination the publish mode sends each event to. */
export function outboxRowsFor(events: LifecycleEvent[], publish: PublishMode): OutboxEventInput[] {
  return events.flatMap((event) =>
    destinationsFor(event, publish).map((destination) => ({
      eventId: event.id,
      destination,
      ...outboxContent(event),
    })),
  );
}

/** What an outbox row holds of its event (and what a run that staged it sends, see `held`). */
export function outboxContent(event: LifecycleEvent): HeldEvent {
  return {
    type: event.type,
    source: event.source,
    subject: event.subject,
    data: event.data,
    traceparent: typeof event.traceparent === 'string' ? event.traceparent : undefined,
  };
}

export interface FlushOptions {
  db: Db;
  publish: PublishMode;
  now: () => Date;
  owner: string;
  limit: number;
  timeoutMs: number;
  concurrency: number;
  /** Only these events (the ones a run just staged); all due events when absent. */
  eventIds?: string[];
  /** Of those, the ones staged leased to `owner`, by id, as staged (see LeaseRequest.held). */
  held?: ReadonlyMap<string, HeldEvent>;
  /** With `eventIds`: up to this many due rows of older events too, sent after them. */
  others?: number;
  /** Dead-letter a row whose attempt number reaches this (EVENT_MAX_ATTEMPTS). */
  maxAttempts?: number;
  /**
   * No send starts at or after this instant (the run's budget): the rows not sent are given back,
   * due at once for a later run, without counting an attempt.
   */
  deadline?: Date;
}

export interface FlushReport {
  delivered: number;
  /** Failed this time and due again later. */
  failed: number;
  /** Failed for good: dead-lettered, by reason. */
  dead: Partial<Record<DeadReason, number>>;
  errors: string[];
  /** Not sent because the deadline came first; due again at once. */
  deferred?: number;
}

/** One lease's flush, with what a drain needs to go on. */
interface Page {
  report: FlushReport;
  /** Rows leased, and how many of them were not among `eventIds`. */
  leased: number;
  others: number;
  /** The outbox after the flush, when its last statement read it (it marked something delivered). */
  backlog?: OutboxBacklog;
}

export async function flushOutbox(options: FlushOptions): Promise<FlushReport> {
  return (await flushPage(options)).report;
}

/** A send not started because the flush's deadline had come. */
const PAST_DEADLINE = new Error("not sent: the run's time ran out");

async function flushPage(options: FlushOptions): Promise<Page> {
  const { db, publish } = options;
  if (publish.mode === 'none')
    return { report: { delivered: 0, failed: 0, dead: {}, errors: [] }, leased: 0, others: 0 };
  const rows = options.limit + (options.eventIds ? (options.others ?? 0) : 0);
  const leased = await leaseDueEvents(db, {
    owner: options.owner,
    now: options.now(),
    limit: options.limit,
    // Long enough for one delivery attempt per row at the given concurrency.
    leaseSeconds: Math.ceil((options.timeoutMs / 1000) * (rows / options.concurrency + 1)),
    eventIds: options.eventIds,
    others: options.others,
    held: options.held,
  });
  const { deadline } = options;
  const results = await mapWithConcurrency(leased, options.concurrency, async (row) => {
    if (deadline && options.now() >= deadline) throw PAST_DEADLINE;
    return send(row, publish, options.timeoutMs);
  });
  const report: FlushReport = { delivered: 0, failed: 0, dead: {}, errors: [] };
  const page: Page = { report, leased: leased.length, others: leased.filter((row) => !row.own).length };
  const unsent = leased
    .filter((_, index) => (results[index] as PromiseRejectedResult).reason === PAST_DEADLINE)
    .map((row) => row.id);
  if (unsent.length > 0) report.deferred = await releaseUnsent(db, unsent, options.owner);
  await recordFailures(options, leased, results, report);
  // Delivered rows are marked in one statement, whatever their number (a run's events are many),
  // and last: it reads the backlog the flush leaves.
  const delivered = leased.filter((_, index) => results[index]!.status === 'fulfilled').map((row) => row.id);
  if (delivered.length > 0) {
    const marked = await markDeliveredReadingBacklog(db, delivered, options.owner, options.now());
    report.delivered = marked.marked;
    page.backlog = marked.backlog;
  }
  return page;
}

async function recordFailures(
  options: FlushOptions,
  leased: OutboxRow[],
  results: PromiseSettledResult<void>[],
  report: FlushReport,
): Promise<void> {
  for (const [index, result] of results.entries()) {
    const row = leased[index]!;
    if (result.status === 'fulfilled' || result.reason === PAST_DEADLINE) continue;
    const error = coerceError(result.reason).message;
    report.errors.push(error);
    const reason = deadReason(result.reason, row.attempts, options.maxAttempts ?? DEFAULT_EVENT_MAX_ATTEMPTS);
    if (reason) {
      if (await markDead(options.db, row.id, options.owner, reason, error, options.now()))
        report.dead[reason] = (report.dead[reason] ?? 0) + 1;
      continue;
    }
    const retryAt = new Date(options.now().getTime() + redeliveryDelaySeconds(row.attempts) * 1000);
    await markFailed(options.db, row.id, options.owner, error, retryAt);
    report.failed += 1;
  }
}

export interface DrainOptions extends Omit<FlushOptions, 'limit' | 'others'> {
  /** How many rows were staged for `eventIds` (one per destination): all of them go in the first lease. */
  ownRows: number;
  pageSize: number;
  deadline: Date;
}

export interface DrainReport extends FlushReport {
  /** Rows leased in all. */
  leased: number;
  /** The outbox as the drain left it, when its last statement read it. */
  backlog?: OutboxBacklog;
}

/**
 * A run's delivery: its own events (`eventIds`, held since they were inserted or leased now) with a
 * first page of older ones in one statement, sent in that order, then further pages of older events
 * (a backlog left by an outage) while the budget lasts. It stops at the deadline (what was leased and not sent is given back, due at once), at a
 * page of older events that is not full, or when a page had to defer; the next run goes on from there.
 */
export async function drainOutbox(options: DrainOptions): Promise<DrainReport> {
  const { ownRows, pageSize, eventIds = [], held, ...flush } = options;
  const total: DrainReport = { delivered: 0, failed: 0, dead: {}, errors: [], leased: 0 };
  const first =
    eventIds.length > 0
      ? { eventIds, held, limit: Math.max(ownRows, eventIds.length), others: pageSize }
      : { limit: pageSize };
  let page = await flushPage({ ...flush, ...first });
  add(total, page);
  while (page.others === pageSize && !page.report.deferred && options.now() < options.deadline) {
    page = await flushPage({ ...flush, limit: pageSize });
    add(total, page);
  }
  return total;
}

function add(total: DrainReport, { report, leased, backlog }: Page): void {
  total.delivered += report.delivered;
  total.failed += report.failed;
  for (const [reason, count] of Object.entries(report.dead) as [DeadReason, number][])
    total.dead[reason] = (total.dead[reason] ?? 0) + count;
  total.errors.push(...report.errors);
  if (report.deferred) total.deferred = (total.deferred ?? 0) + report.deferred;
  total.leased += leased;
  // The backlog is the last page's, when that page read it (an older reading would be stale).
  total.backlog = backlog;
}

/** Undefined while a retry can still help. */
function deadReason(err: unknown, attempts: number, maxAttempts: number): DeadReason | undefined {
  if (err instanceof Undeliverable) return err.reason;
  return attempts >= maxAttempts ? 'exhausted' : undefined;
}

async function send(row: OutboxRow, publish: Exclude<PublishMode, { mode: 'none' }>, timeoutMs: number): Promise<void> {
  const url = targetUrl(row.destination, publish);
  await deliver(toCloudEvent(row), { url }, { timeoutMs });
}

function targetUrl(destination: string, publish: Exclude<PublishMode, { mode: 'none' }>): string {
  if (destination === SINK) {
    if (publish.mode !== 'knative')
      throw new Transient('event staged for the Knative sink but no K_SINK is configured');
    return publish.sinkUrl;
  }
  if (publish.mode !== 'openfaas')
    throw new Transient(`event staged for ${destination} but delivery is not through an OpenFaaS gateway`);
  return `${publish.gatewayUrl.replace(/\/+$/, '')}/async-function/${destination}`;
}

function toCloudEvent(row: OutboxRow): CloudEventV1<unknown> {
  return {
    specversion: '1.0',
    id: row.event_id,
    type: row.type,
    source: row.source,
    ...(row.subject === null ? {} : { subject: row.subject }),
    time: row.created_at.toISOString(),
    datacontenttype: 'application/json',
    data: row.data,
    ...(row.traceparent === null ? {} : { traceparent: row.traceparent }),
  };
}

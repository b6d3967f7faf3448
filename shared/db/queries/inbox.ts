import type { Db } from '../pool.js';

export interface InboxEntry {
  consumer: string;
  source: string;
  eventId: string;
  type: string;
}

/**
 * Record that `consumer` processed the CloudEvent (source, id). Call it in the same transaction
 * as the consumer's effect: false means a duplicate delivery, and the effect must not repeat.
 */
export async function recordProcessedEvent(db: Db, entry: InboxEntry, now: Date): Promise<boolean> {
  const result = await db.query(
    `insert into event_inbox (consumer, source, event_id, type, processed_at) values ($1, $2, $3, $4, $5)
     on conflict do nothing`,
    [entry.consumer, entry.source, entry.eventId, entry.type, now],
  );
  return result.rowCount === 1;
}

/**
 * Forget that `consumer` processed the CloudEvent: its run failed, so the platform's redelivery must
 * do the work instead of being answered as a duplicate. Consumers' effects are compare-and-sets,
 * so whatever the failed run already did is not repeated by the retry. Only the row this run wrote
 * (its `processedAt`) is removed, never a duplicate delivery's.
 */
export async function releaseProcessedEvent(db: Db, entry: Omit<InboxEntry, 'type'>, processedAt: Date): Promise<void> {
  await db.query(
    `delete from event_inbox where consumer = $1 and source = $2 and event_id = $3 and processed_at = $4`,
    [entry.consumer, entry.source, entry.eventId, processedAt],
  );
}

/** Whether `consumer` holds a record of the CloudEvent (source, id), whichever delivery wrote it. */
export async function isEventRecorded(db: Db, entry: Omit<InboxEntry, 'type'>): Promise<boolean> {
  const result = await db.query(
    `select exists (select 1 from event_inbox where consumer = $1 and source = $2 and event_id = $3) as recorded`,
    [entry.consumer, entry.source, entry.eventId],
  );
  return (result.rows[0] as { recorded: boolean }).recorded;
}

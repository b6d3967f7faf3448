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

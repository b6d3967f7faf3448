/*
 * Warning lateness, counted once per warning. The histogram lives in this process, so it counts
 * only warnings sent after it started: the first collection takes the ledger's newest sent time as
 * its start and counts nothing before it (history would arrive as one burst after each restart).
 * A warn run records its sends when it commits, which can be after a later run's; so each
 * collection reads again a window before the newest time seen and skips the rows it counted.
 */
import type { Db } from '../shared/db/pool.js';
import { newestWarningSentAt, warningsSentAfter } from '../shared/db/queries/fleet.js';
import type { SentWarning } from '../shared/db/queries/fleet.js';

/**
 * warn stamps sent_at from its clock just before it commits; ten minutes covers a slow commit many
 * times over while keeping the re-read small (a few thousand rows at 100,000 reservations).
 */
export const LATE_COMMIT_WINDOW_MS = 10 * 60_000;
/** Rows read per collection; more wait for the next scrape. */
export const LATENESS_READ_LIMIT = 50_000;

export class WarningLateness {
  private newest: Date | undefined;
  /** Counted rows inside the window, by key, with their sent time. */
  private readonly counted = new Map<string, number>();

  constructor(private readonly observe: (warning: SentWarning) => void) {}

  async collect(db: Db): Promise<number> {
    if (this.newest === undefined) {
      this.newest = (await newestWarningSentAt(db)) ?? new Date(0);
      for (const row of await warningsSentAfter(db, this.windowStart(), LATENESS_READ_LIMIT))
        this.counted.set(row.key, row.sentAt.getTime());
      return 0;
    }
    let observed = 0;
    for (const row of await warningsSentAfter(db, this.windowStart(), LATENESS_READ_LIMIT)) {
      if (this.counted.has(row.key)) continue;
      this.counted.set(row.key, row.sentAt.getTime());
      this.observe(row);
      observed += 1;
      if (row.sentAt > this.newest) this.newest = row.sentAt;
    }
    const start = this.windowStart().getTime();
    for (const [key, sentAt] of this.counted) if (sentAt <= start) this.counted.delete(key);
    return observed;
  }

  private windowStart(): Date {
    return new Date(this.newest!.getTime() - LATE_COMMIT_WINDOW_MS);
  }
}

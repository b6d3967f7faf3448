/*
 * The prune's rule, pure: a used token or a short link is forgotten a day after its token expired
 * (by then the token's own signature check refuses it, so the row no longer decides anything).
 * One action per row, oldest first; the kernel bounds them by maxItems and lists them in a dry run.
 */
import type { Action, DecideContext, Plan } from '../../../shared/plan.js';

/** How long a row is kept after its token expired: a click just past expiry still reads as used, not unknown. */
export const KEEP_AFTER_EXPIRY_MS = 24 * 3_600_000;

export type PruneKind = 'prune-used-token' | 'prune-short-link';

export interface Prunable {
  kind: PruneKind;
  /** The token's jti or the short link's id; never listed (a short id stands for its token). */
  key: string;
  reservationId: string;
  expiresAt: Date;
}

export interface PruneLoad {
  rows: Prunable[];
}

export interface PruneAction extends Action {
  kind: PruneKind;
  key: string;
}

/** Rows whose token expired before this instant may go; `load` reads through the same cutoff. */
export function pruneCutoff(now: Date): Date {
  return new Date(now.getTime() - KEEP_AFTER_EXPIRY_MS);
}

export function decidePrune(loaded: PruneLoad, context: DecideContext<unknown>): Plan<PruneAction> {
  const cutoff = pruneCutoff(context.now);
  const actions = loaded.rows
    .filter((row) => row.expiresAt < cutoff)
    .sort((a, b) => a.expiresAt.getTime() - b.expiresAt.getTime())
    .map((row): PruneAction => {
      const hours = Math.floor((context.now.getTime() - row.expiresAt.getTime()) / 3_600_000);
      return {
        kind: row.kind,
        key: row.key,
        entity: { kind: 'reservation', id: row.reservationId },
        reason: `its token expired ${hours} h ago; the signature check refuses it on its own`,
        inputs: { expiresAt: row.expiresAt.toISOString() },
        item: { action: row.kind, reservationId: row.reservationId, expiresAt: row.expiresAt.toISOString() },
      };
    });
  return { actions };
}

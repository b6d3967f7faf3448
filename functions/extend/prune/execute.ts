/*
 * The prune's set-based executor: a batch of used tokens and short links forgotten in one commit,
 * each delete still bounded by the cutoff. Bookkeeping only: no decision-log entry per row (the
 * run's counts say how many went; a failed row is still logged by the kernel).
 */
import { deleteShortLinks } from '../../../shared/db/queries/action-links.js';
import { deleteUsedTokens } from '../../../shared/db/queries/actions.js';
import type { ActionResult } from '../../../shared/runtime/execute.js';
import type { Run } from '../../../shared/runtime/run.js';
import { pruneCutoff } from './decide.js';
import type { PruneAction, PruneKind } from './decide.js';

/** Rows per commit: two short deletes by primary key. */
export const PRUNE_BATCH_SIZE = 500;

const COUNTER: Record<PruneKind, string> = {
  'prune-used-token': 'tokens_pruned',
  'prune-short-link': 'short_links_pruned',
};

// Already gone (another run pruned it): nothing to count.
const GONE: ActionResult = { outcome: 'skipped', metrics: [] };

export async function executePrune(run: Run, actions: PruneAction[]): Promise<ActionResult[]> {
  const cutoff = pruneCutoff(run.now());
  const keysOf = (kind: PruneKind) => actions.filter((action) => action.kind === kind).map((action) => action.key);
  const deleted = await run.commit(async (db) => ({
    value: new Set([
      ...(await deleteUsedTokens(db, keysOf('prune-used-token'), cutoff)).map((key) => `prune-used-token:${key}`),
      ...(await deleteShortLinks(db, keysOf('prune-short-link'), cutoff)).map((key) => `prune-short-link:${key}`),
    ]),
  }));
  return actions.map((action) =>
    deleted.has(`${action.kind}:${action.key}`) ? { outcome: 'applied', counters: [COUNTER[action.kind]] } : GONE,
  );
}

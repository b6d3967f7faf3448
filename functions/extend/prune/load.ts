/* The prune's reads: used tokens and short links whose token expired a day ago, through their expiry indexes, bounded. */
import type pg from 'pg';
import { expiredShortLinks } from '../../../shared/db/queries/action-links.js';
import { expiredUsedTokens } from '../../../shared/db/queries/actions.js';
import type { BaseOptions } from '../../../shared/runtime/invocation.js';
import type { KernelDeps, LoadInput } from '../../../shared/runtime/define-function.js';
import { pruneCutoff } from './decide.js';
import type { PruneLoad } from './decide.js';

export type PruneDeps = KernelDeps & { pool: pg.Pool };

export async function loadPrune({ run, deps, limit }: LoadInput<BaseOptions, PruneDeps>): Promise<PruneLoad> {
  const cutoff = pruneCutoff(run.now());
  const tokens = await expiredUsedTokens(deps.pool, cutoff, limit);
  const links = await expiredShortLinks(deps.pool, cutoff, limit);
  return {
    rows: [
      ...tokens.map((row) => ({ kind: 'prune-used-token' as const, ...row })),
      ...links.map((row) => ({ kind: 'prune-short-link' as const, ...row })),
    ],
  };
}

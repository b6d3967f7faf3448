/*
 * extend's entry. It acts through its own routes (http.ts: the action links and Slack) and the
 * operator CLI; a schedule tick (every 30 minutes) or a manual call only forgets used tokens and short links that expired a day ago
 * (after that their signature check refuses them on its own).
 */
import { pruneShortLinks } from '../../shared/db/queries/action-links.js';
import { pruneUsedTokens } from '../../shared/db/queries/actions.js';
import { baseOptionsSchema, defineHandler } from '../../shared/runtime/invocation.js';
import type { BaseOptions } from '../../shared/runtime/invocation.js';
import { runScoped } from '../../shared/runtime/run-scope.js';
import type { RunReport } from '../../shared/runtime/run-scope.js';
import type { ActDeps } from './act.js';
import { extendRoutes } from './http.js';

const KEEP_AFTER_EXPIRY_MS = 24 * 3_600_000;

export const extend = {
  ...defineHandler<BaseOptions, ActDeps>({
    name: 'extend',
    optionsSchema: baseOptionsSchema,
    handle: (invocation, deps) =>
      runScoped(deps.run, 'extend', invocation, async (scope): Promise<RunReport> => {
        if (scope.dryRun) return { summary: {}, failures: [], message: 'dry run: used tokens are kept' };
        const expiredBefore = new Date(scope.now().getTime() - KEEP_AFTER_EXPIRY_MS);
        const tokensPruned = await pruneUsedTokens(deps.pool, expiredBefore, scope.maxItems);
        return {
          summary: {
            tokens_pruned: tokensPruned,
            short_links_pruned: await pruneShortLinks(deps.pool, expiredBefore, scope.maxItems),
          },
          failures: [],
        };
      }),
  }),
  routes: extendRoutes,
};

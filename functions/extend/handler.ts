/*
 * extend's entry. It acts through its own routes (http.ts: the action links and Slack) and the
 * operator CLI; a schedule tick (every 30 minutes) or a manual call only forgets used tokens and
 * short links whose token expired a day ago (prune/: after that their signature check refuses them
 * on its own).
 */
import { defineFunction } from '../../shared/runtime/define-function.js';
import { baseOptionsSchema } from '../../shared/runtime/invocation.js';
import { extendRoutes } from './http.js';
import { decidePrune } from './prune/decide.js';
import { executePrune, PRUNE_BATCH_SIZE } from './prune/execute.js';
import { loadPrune } from './prune/load.js';

export const extend = {
  ...defineFunction({
    name: 'extend',
    optionsSchema: baseOptionsSchema,
    counters: ['tokens_pruned', 'short_links_pruned'],
    load: loadPrune,
    decide: decidePrune,
    batch: { size: PRUNE_BATCH_SIZE, execute: executePrune },
  }),
  routes: extendRoutes,
};

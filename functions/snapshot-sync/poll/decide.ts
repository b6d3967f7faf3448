/*
 * Polling's plan, pure: the rule (decidePolls in ../decide.ts) as the kernel's actions. A snapshot
 * EC2 still reports pending is only counted.
 */
import type { Action, Plan } from '../../../shared/plan.js';
import { decidePolls } from '../decide.js';
import type { PollAction } from '../decide.js';
import type { PollLoad } from './load.js';

export type PollStep = Action & { kind: 'completed-snapshot' | 'error-snapshot'; rule: PollAction; snapshotId: string };

export function decidePollStage(loaded: PollLoad, context: { now: Date }): Plan<PollStep> {
  if (!loaded.observed) return { actions: [] };
  const rules = decidePolls({ now: context.now, pending: loaded.pending, ...loaded.observed });
  const actions = rules.map((rule): PollStep => {
    const snapshotId = rule.kind === 'complete' ? rule.snapshot.snapshotId : rule.snapshotId;
    const kind = rule.kind === 'complete' ? 'completed-snapshot' : 'error-snapshot';
    const item = {
      action: rule.kind === 'complete' ? 'complete-snapshot' : 'fail-snapshot',
      snapshotId,
      reason: rule.reason,
    };
    return {
      kind,
      rule,
      snapshotId,
      entity: { kind: 'snapshot', id: snapshotId },
      reason: rule.reason,
      inputs: { rowId: rule.rowId },
      item,
    };
  });
  return { actions, counts: { snapshots_still_pending: loaded.pending.length - rules.length } };
}

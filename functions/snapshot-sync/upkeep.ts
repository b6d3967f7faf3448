/*
 * snapshot-sync's upkeep (Plan.upkeep), written by the kernel after a stage's actions: the waits a
 * stage tracks, an event run's record of an event with nothing to snapshot, and the disks found
 * within retention. Not items of work: the kernel decides when upkeep is written.
 */
import type { UpkeepWriter } from '../../shared/runtime/execute.js';
import type { TrackWaits } from './decide-waits.js';
import { markChecked } from './deletions/retention-checked.js';
import type { MarkChecked } from './deletions/retention-checked.js';
import type { SyncDeps } from './ec2-calls.js';
import type { AcknowledgeEvent } from './shutdown/decide.js';
import { executeTrackWaits } from './waits.js';

export type SyncUpkeep = TrackWaits | AcknowledgeEvent | MarkChecked;

export const writeSyncUpkeep: UpkeepWriter<SyncUpkeep, SyncDeps> = async (run, item, deps) => {
  switch (item.kind) {
    case 'track-waits':
      return executeTrackWaits(run, item, deps);
    case 'mark-retention-checked':
      return markChecked(run, item);
    case 'acknowledge-event':
      // The commit's only write is the event's inbox record.
      await run.commit(async () => ({ value: undefined }));
      return {};
  }
};

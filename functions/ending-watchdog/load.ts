/* ending-watchdog's reads: labs in ENDING, through the index (status, ending_since), bounded. */
import type pg from 'pg';
import type { Config } from '../../shared/config.js';
import { endingLabs } from '../../shared/db/queries/labs.js';
import type { LabRow } from '../../shared/db/queries/labs.js';
import type { NamedResources } from '../../shared/kube/labelled-resources.js';
import type { LoadInput } from '../../shared/runtime/define-function.js';
import type { KernelDeps } from '../../shared/runtime/define-function.js';
import { selection } from './decide.js';
import type { EndingLab, WatchdogLoad } from './decide.js';
import type { WatchdogOptions } from './options.js';

export interface WatchdogDeps extends KernelDeps {
  pool: pg.Pool;
  resources: NamedResources;
  config: Config;
}

export async function loadWatchdog({
  run,
  deps,
  invocation,
  limit,
}: LoadInput<WatchdogOptions, WatchdogDeps>): Promise<WatchdogLoad> {
  const { policy } = deps.config;
  const chosen = selection(invocation.options, policy, limit);
  const olderThan = new Date(run.now().getTime() - chosen.olderThanMinutes * 60_000);
  const rows = await endingLabs(deps.pool, { labId: chosen.labId, olderThan, limit: chosen.maxLabs });
  return { labs: rows.map((row) => toLab(row, policy.labNamespace)), policy };
}

function toLab(row: LabRow, defaultNamespace: string): EndingLab {
  return {
    id: row.id,
    ownerId: row.owner_id,
    endingSince: row.ending_since,
    namespace: row.namespace ?? defaultNamespace,
  };
}

/* Every function of the product, as served by the local gateway and bundled for the platforms. */
import type { Deps } from '../shared/deps.js';
import type { BaseOptions, FunctionDefinition } from '../shared/runtime/invocation.js';
import { cleanupPod } from './cleanup-pod/handler.js';
import { endingWatchdog } from './ending-watchdog/handler.js';
import { expire } from './expire/handler.js';
import { extend } from './extend/handler.js';
import { oomScan } from './oom-scan/handler.js';
import { snapshotSync } from './snapshot-sync/handler.js';
import { warn } from './warn/handler.js';

// Each definition narrows its options; the gateway only needs the shared contract.
export const allFunctions: FunctionDefinition<BaseOptions, Deps>[] = [
  warn,
  expire,
  cleanupPod,
  snapshotSync,
  oomScan,
  endingWatchdog as unknown as FunctionDefinition<BaseOptions, Deps>,
  extend,
];

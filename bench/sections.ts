/*
 * The benchmark sections, in the order BENCHMARKS.md shows them. Each section measures one claim
 * and answers markdown lines (a short lead and a table); `npm run bench -- --only <id>` reruns one
 * section and replaces just its part of BENCHMARKS.md.
 */
import { benchColdStart } from './cold-start.js';
import { benchDatabase } from './database.js';
import { benchEventLatency } from './event-latency.js';
import { benchOomScan } from './oom-scan.js';
import { benchSnapshotSync } from './snapshot-sync.js';
import { benchTeardown } from './teardown.js';
import type { BenchSection } from './context.js';
import { benchWarnDelivery } from './warn-expire-delivery.js';
import { benchExpireOutbox } from './warn-expire-outbox.js';
import { benchFleetMemory } from './fleet-memory.js';

export const sections: BenchSection[] = [
  { id: 'database', title: 'Database foundation', run: (context) => benchDatabase(context.rounds) },
  { id: 'warn-delivery', title: 'warn: delivery at 100 ms per pod exec, with a moving clock', run: benchWarnDelivery },
  { id: 'expire-outbox', title: 'expire: 1,000 due at 100k with event delivery on', run: benchExpireOutbox },
  {
    id: 'fleet-memory',
    title: 'warn, expire and ending-watchdog at 100k: run budget and memory as deployed',
    run: benchFleetMemory,
  },
  { id: 'oom-scan', title: 'oom-scan: the scheduled scan over a pod for every active reservation', run: benchOomScan },
  { id: 'teardown', title: 'cleanup-pod: teardown of 500 reservations in one sweep', run: benchTeardown },
  {
    id: 'snapshot-sync',
    title: 'snapshot-sync: polling scales with pending snapshots, not history',
    run: benchSnapshotSync,
  },
  { id: 'cold-start', title: 'Bundles: size, cold start and memory per function', run: benchColdStart },
  {
    id: 'event-latency',
    title: 'Event latency: reservation.expired to cleanup-pod, pod OOM to recorded',
    run: benchEventLatency,
  },
];

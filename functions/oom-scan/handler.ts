/*
 * oom-scan: a schedule tick or a manual call scans the pods a page at a time from the durable
 * cursor; a pod-change event checks that pod. Each page's new kills are recorded before the next
 * is read; the notices they made due (the file in the pod, and the webhook when configured) follow.
 */
import { definePagedFunction, defineStep } from '../../shared/runtime/paged.js';
import { baseOptionsSchema } from '../../shared/runtime/invocation.js';
import { decideKills, decideNotices } from './decide.js';
import { checkpoint, killExecutors, noticeExecutors } from './execute.js';
import { loadOom, nextOomPage, noticesLoader } from './load.js';
import type { OomDeps } from './load.js';

const podNotices = defineStep({ load: noticesLoader('pod'), decide: decideNotices, executors: noticeExecutors });
const webhookNotices = defineStep({
  load: noticesLoader('webhook'),
  decide: decideNotices,
  executors: noticeExecutors,
});

export const oomScan = definePagedFunction({
  name: 'oom-scan',
  optionsSchema: baseOptionsSchema,
  counters: ['pods_scanned', 'pages', 'relists', 'resumed_after_expiry', 'oom_seen', 'pass_completed'],
  load: loadOom,
  next: nextOomPage,
  decide: decideKills,
  executors: killExecutors,
  pagesPerRun: (deps: OomDeps) => deps.config.policy.oomScanPagesPerRun,
  // The scan reads no page in the last fifth of the run's time, so the notices of what it found go out in this run.
  stopReadingAt: 0.8,
  checkpoint,
  then: (_invocation, deps) => (deps.config.webhook ? [podNotices, webhookNotices] : [podNotices]),
});

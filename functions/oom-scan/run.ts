/*
 * oom-scan's shell. The scheduled scan pages through the labelled pods of every namespace with
 * active reservations (pod events can be dropped, so the scan is the baseline; see scan.ts); a pod
 * event checks just that pod. Each new kill is recorded with its counter and event in one
 * transaction; the notice file (and the webhook, when configured) follows, retried by later runs
 * until it lands.
 */
import type pg from 'pg';
import type { Config } from '../../shared/config.js';
import { activeNamespaces, activeReservationsFor, loadScanCursor, recordOomKill, saveScanCursor } from '../../shared/db/queries/oom.js';
import { withTransaction } from '../../shared/db/transaction.js';
import { buildEvent, sourceFor } from '../../shared/events/build.js';
import { EventTypes } from '../../shared/events/types.js';
import type { PodSummary } from '../../shared/kube/pod-health.js';
import type { PodExec, PodReader } from '../../shared/kube/pods.js';
import type { Metrics } from '../../shared/runtime/metrics.js';
import type { RunReport, RunScope } from '../../shared/runtime/run-scope.js';
import { findOomKills, reservationMatcher, scanOrder } from './decide.js';
import type { OomKill } from './decide.js';
import { sendNotices } from './notices.js';
import { scanNamespace } from './scan.js';
import type { ScanPass } from './scan.js';

// The scan stops reading pages with this share of the budget left, so the notices of what it
// found still go out in this run.
const NOTICE_SHARE = 0.2;

export interface OomDeps {
  pool: pg.Pool;
  pods: PodReader;
  exec: PodExec;
  config: Config;
  metrics: Metrics;
}

export async function scanRun(scope: RunScope, deps: OomDeps): Promise<RunReport> {
  const order = scanOrder(await activeNamespaces(deps.pool, deps.config.policy.reservationNamespace), await loadScanCursor(deps.pool));
  const deadline = new Date(scope.deadline.getTime() - deps.config.run.budgetSeconds * 1000 * NOTICE_SHARE);
  const failures: string[] = [];
  // A dry run moves nothing; after a failed listing the cursor stays, so the next run reads again
  // what this one could not.
  const advance = async (namespace: string, continueToken: string | undefined, passCompleted = false) => {
    if (!scope.dryRun && failures.length === 0) await saveScanCursor(deps.pool, { namespace, continueToken }, scope.now(), passCompleted);
  };
  const pass: ScanPass = {
    scope, deps, deadline, seen: [], pagesLeft: deps.config.policy.oomScanPagesPerRun, advance,
    tally: { pods_scanned: 0, pages: 0, relists: 0, resumed_after_expiry: 0, oom_seen: 0, oom_detected: 0 },
    record: (kill) => record(scope, deps, kill, 'scan'),
  };
  const stopped = { stopped_at_deadline: 0, stopped_at_max_items: 0, stopped_at_page_budget: 0, pass_completed: 0 };
  for (const [at, start] of order.entries()) {
    const outcome = await scanNamespace(pass, start.namespace, start.continueToken);
    if ('failure' in outcome) {
      failures.push(outcome.failure); // one namespace's failure does not blind the others
      continue;
    }
    if (!outcome.done) {
      stopped[stopKeys[outcome.stop]] = 1;
      break;
    }
    const next = order[at + 1];
    // Past the last namespace the pass is complete: the cursor goes back to the start (the empty
    // name sorts before every namespace) and the next run begins the next pass.
    await advance(next?.namespace ?? '', undefined, next === undefined);
    if (next === undefined && failures.length === 0) stopped.pass_completed = 1;
  }
  const summary = { ...pass.tally, ...stopped };
  if (scope.dryRun) return { summary, failures, items: pass.seen.map(dryRunItem) };
  const notices = await notify(scope, deps, summary);
  return { summary, failures: [...failures, ...notices] };
}

const stopKeys = { 'deadline': 'stopped_at_deadline', 'max items': 'stopped_at_max_items', 'page budget': 'stopped_at_page_budget' } as const;

export async function podEventRun(scope: RunScope, deps: OomDeps, pod: PodSummary): Promise<RunReport> {
  return recordAndNotify(scope, deps, [pod], 'event');
}

async function recordAndNotify(scope: RunScope, deps: OomDeps, pods: PodSummary[], detectedBy: 'event' | 'scan'): Promise<RunReport> {
  const { reservationLabel, reservationNamespace } = deps.config.policy;
  const labelled = pods.flatMap((pod) => (pod.labels?.[reservationLabel] ? [pod.labels[reservationLabel]] : []));
  const rows = await activeReservationsFor(deps.pool, labelled, pods.map((pod) => pod.name));
  const kills = findOomKills(pods, reservationMatcher(rows, reservationLabel, reservationNamespace));
  const summary: Record<string, number> = { pods_scanned: pods.length, oom_seen: kills.length, oom_detected: 0 };
  if (scope.dryRun) return { summary, failures: [], items: kills.map(dryRunItem) };
  for (const kill of kills.slice(0, scope.maxItems)) {
    if (await record(scope, deps, kill, detectedBy)) summary.oom_detected = (summary.oom_detected ?? 0) + 1;
  }
  const failures = await notify(scope, deps, summary, pods.map((pod) => pod.uid));
  return { summary, failures };
}

const dryRunItem = (kill: OomKill) => ({ reservationId: kill.reservationId, container: kill.container, ordinal: kill.ordinal });

/** Sends due notices (only these pods' for an event run); answers the pod notices that failed. */
async function notify(scope: RunScope, deps: OomDeps, summary: Record<string, number>, podUids?: string[]): Promise<string[]> {
  const notices = await sendNotices(scope, deps, 'pod', podUids);
  Object.assign(summary, { notices_sent: notices.sent, notices_failed: notices.errors.length });
  if (deps.config.webhook) {
    // The webhook is best effort beside the pod notice: counted and retried, never failing the run.
    const webhooks = await sendNotices(scope, deps, 'webhook', podUids);
    Object.assign(summary, { webhook_sent: webhooks.sent, webhook_failed: webhooks.errors.length });
  }
  return notices.errors;
}

async function record(scope: RunScope, deps: OomDeps, kill: OomKill, detectedBy: 'event' | 'scan'): Promise<boolean> {
  return withTransaction(deps.pool, async (client) => {
    const oomCount = await recordOomKill(client, { ...kill, detectedBy, webhook: deps.config.webhook !== undefined }, scope.now());
    if (oomCount === undefined) return false;
    deps.metrics.oomKills.inc();
    await scope.stage(client, [buildEvent(EventTypes.reservationOom, {
      reservationId: kill.reservationId, podName: kill.podName, namespace: kill.namespace, podUid: kill.podUid,
      container: kill.container, restartCount: kill.ordinal, oomCount, detectedAt: scope.now().toISOString(),
    }, { source: sourceFor('oom-scan'), subject: kill.reservationId, time: scope.now() })]);
    return true;
  });
}

/*
 * oom-scan's shell. The scheduled scan lists the labelled pods of every namespace with active
 * reservations (pod events can be dropped, so the scan is the baseline); a pod event checks just
 * that pod. Each new kill is recorded with its counter and event in one transaction; the notice
 * file (and the webhook, when configured) follows, retried by later runs until it lands.
 */
import type pg from 'pg';
import type { Config } from '../../shared/config.js';
import { activeNamespaces, activeReservationsFor, recordOomKill } from '../../shared/db/queries/oom.js';
import { withTransaction } from '../../shared/db/transaction.js';
import { buildEvent, sourceFor } from '../../shared/events/build.js';
import { EventTypes } from '../../shared/events/types.js';
import type { PodSummary } from '../../shared/pod-health.js';
import type { PodExec, PodReader } from '../../shared/pods.js';
import type { Metrics } from '../../shared/runtime/metrics.js';
import type { RunReport, RunScope } from '../../shared/runtime/run-scope.js';
import { findOomKills } from './decide.js';
import type { OomKill } from './decide.js';
import { sendNotices } from './notices.js';

export interface OomDeps {
  pool: pg.Pool;
  pods: PodReader;
  exec: PodExec;
  config: Config;
  metrics: Metrics;
}

export async function scanRun(scope: RunScope, deps: OomDeps): Promise<RunReport> {
  const namespaces = await activeNamespaces(deps.pool, deps.config.policy.reservationNamespace);
  const pods = (await Promise.all(namespaces.map((ns) => deps.pods.listReservationPods(ns)))).flat();
  return recordAndNotify(scope, deps, pods, 'scan');
}

export async function podEventRun(scope: RunScope, deps: OomDeps, pod: PodSummary): Promise<RunReport> {
  return recordAndNotify(scope, deps, [pod], 'event');
}

async function recordAndNotify(scope: RunScope, deps: OomDeps, pods: PodSummary[], detectedBy: 'event' | 'scan'): Promise<RunReport> {
  const kills = findOomKills(pods, await reservationMatcher(deps, pods));
  const summary: Record<string, number> = { pods_scanned: pods.length, oom_seen: kills.length, oom_detected: 0 };
  if (scope.dryRun) return { summary, failures: [], items: kills.map((k) => ({ reservationId: k.reservationId, container: k.container, ordinal: k.ordinal })) };
  for (const kill of kills.slice(0, scope.maxItems)) {
    if (await record(scope, deps, kill, detectedBy)) summary.oom_detected = (summary.oom_detected ?? 0) + 1;
  }
  const podUids = detectedBy === 'event' ? pods.map((pod) => pod.uid) : undefined;
  const notices = await sendNotices(scope, deps, 'pod', podUids);
  Object.assign(summary, { notices_sent: notices.sent, notices_failed: notices.errors.length });
  if (deps.config.webhook) {
    // The webhook is best effort beside the pod notice: counted and retried, never failing the run.
    const webhooks = await sendNotices(scope, deps, 'webhook', podUids);
    Object.assign(summary, { webhook_sent: webhooks.sent, webhook_failed: webhooks.errors.length });
  }
  return { summary, failures: notices.errors };
}

/** Map pods to active reservations: by the reservation label, else by pod name and namespace. */
async function reservationMatcher(deps: OomDeps, pods: PodSummary[]): Promise<(pod: PodSummary) => string | undefined> {
  const { reservationLabel, reservationNamespace } = deps.config.policy;
  const labelled = pods.flatMap((pod) => (pod.labels?.[reservationLabel] ? [pod.labels[reservationLabel]] : []));
  const rows = await activeReservationsFor(deps.pool, labelled, pods.map((pod) => pod.name));
  return (pod) => {
    const match = rows.find((row) => row.pod_name === pod.name && (row.namespace ?? reservationNamespace) === pod.namespace
      && (pod.labels?.[reservationLabel] ?? row.reservation_id) === row.reservation_id);
    return match?.reservation_id;
  };
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

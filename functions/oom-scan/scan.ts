/*
 * The scheduled scan, page by page: each page of labelled pods is matched, looked up and recorded
 * before the next is read, so memory holds one page, not the fleet, and a failure or the deadline
 * keeps everything earlier pages recorded. Only pods showing a kill cost SQL: one lookup of their
 * reservations and one of the kills already recorded, per page.
 *
 * A run reads at most OOM_SCAN_PAGES_PER_RUN pages, from a durable cursor (the namespace and the
 * continue token of the next read, saved after each page is fully recorded): the next run resumes
 * there, so a pass over P pages takes ceil(P / pages per run) runs, and a run stopped by its
 * deadline or its maxItems loses no ground. A run never skips past a page whose kills it has not
 * all recorded, nor, once any namespace's listing failed, moves the cursor at all.
 *
 * A continue token the API server no longer honours (410 Gone, after its history was compacted;
 * a cursor kept across runs usually is) is answered with the token the refusal carries, which
 * resumes after the same pod at the current version. A server whose refusal carries none has the
 * namespace's listing start over, once per run; a second expiry is reported as a failure.
 */
import { activeReservationsFor, oomKillKey, recordedOomKills } from '../../shared/db/queries/oom.js';
import { coerceError } from '../../shared/errors.js';
import type { PodSummary } from '../../shared/kube/pod-health.js';
import type { RunScope } from '../../shared/runtime/run-scope.js';
import { findOomKills, reservationMatcher, showsOomKill } from './decide.js';
import type { OomKill } from './decide.js';
import type { OomDeps } from './run.js';

export interface ScanTally {
  pods_scanned: number;
  pages: number;
  relists: number;
  resumed_after_expiry: number;
  oom_seen: number;
  oom_detected: number;
}

export interface ScanPass {
  scope: RunScope;
  deps: OomDeps;
  /** Reads no page after this instant: the rest of the budget is the notices'. */
  deadline: Date;
  /** Pages this run may still read (OOM_SCAN_PAGES_PER_RUN at the start). */
  pagesLeft: number;
  tally: ScanTally;
  /** Records one new kill; false when another run recorded it first. */
  record: (kill: OomKill) => Promise<boolean>;
  /** Moves the durable cursor to the next read, once a page is fully recorded. */
  advance: (namespace: string, continueToken: string | undefined) => Promise<void>;
  /** Kills seen in a dry run (nothing is recorded). */
  seen: OomKill[];
}

export type StopReason = 'deadline' | 'max items' | 'page budget';
export type NamespaceOutcome = { done: true } | { done: false; stop: StopReason } | { done: false; failure: string };

export async function scanNamespace(pass: ScanPass, namespace: string, startToken?: string): Promise<NamespaceOutcome> {
  const pageSize = pass.deps.config.policy.oomScanPageSize;
  let token = startToken;
  let relisted = false;
  let expiredInARow = 0;
  for (;;) {
    if (pass.scope.now() >= pass.deadline) return { done: false, stop: 'deadline' };
    if (pass.pagesLeft <= 0) return { done: false, stop: 'page budget' };
    let page;
    try {
      page = await pass.deps.pods.listReservationPods(namespace, pageSize, token);
    } catch (err) {
      return { done: false, failure: `listing pods in ${namespace} failed after ${pass.tally.pods_scanned} pods: ${coerceError(err).message}` };
    }
    if ('expired' in page) {
      expiredInARow += 1;
      if (page.resumeToken !== undefined && expiredInARow === 1) {
        pass.tally.resumed_after_expiry += 1;
        token = page.resumeToken;
        continue;
      }
      if (relisted) return { done: false, failure: `listing pods in ${namespace}: the continue token expired twice in one run; the next run lists again` };
      relisted = true;
      pass.tally.relists += 1;
      token = undefined;
      continue;
    }
    expiredInARow = 0;
    pass.pagesLeft -= 1;
    pass.tally.pages += 1;
    pass.tally.pods_scanned += page.pods.length;
    if (!(await processPage(pass, page.pods))) return { done: false, stop: 'max items' };
    if (page.continueToken === undefined) return { done: true };
    token = page.continueToken;
    await pass.advance(namespace, token);
  }
}

/** Records the page's new kills; false once the run's maxItems new kills are recorded. */
async function processPage(pass: ScanPass, pods: PodSummary[]): Promise<boolean> {
  const { deps, scope, tally } = pass;
  const killed = pods.filter(showsOomKill);
  if (killed.length === 0) return true;
  const { reservationLabel, reservationNamespace } = deps.config.policy;
  const labelled = killed.flatMap((pod) => (pod.labels?.[reservationLabel] ? [pod.labels[reservationLabel]] : []));
  const rows = await activeReservationsFor(deps.pool, labelled, killed.map((pod) => pod.name));
  const kills = findOomKills(killed, reservationMatcher(rows, reservationLabel, reservationNamespace));
  tally.oom_seen += kills.length;
  if (scope.dryRun) {
    pass.seen.push(...kills);
    return true;
  }
  const recorded = kills.length > 0 ? await recordedOomKills(deps.pool, kills) : new Set<string>();
  for (const kill of kills) {
    if (recorded.has(oomKillKey(kill))) continue;
    if (tally.oom_detected >= scope.maxItems) return false;
    if (await pass.record(kill)) tally.oom_detected += 1;
  }
  return true;
}

/*
 * oom-scan's reads, all read-only. The scan reads the labelled pods of every namespace with active
 * reservations a page at a time (pod events can be dropped, so the scan is the baseline), from the
 * durable cursor where the last run stopped; the kernel decides and executes each page before it
 * asks for the next (shared/runtime/paged.ts). Only pods showing a kill cost SQL: one lookup of
 * their reservations and one of their kills already recorded, per page. A pod event reads nothing
 * from the cluster: its pod is the page.
 *
 * A continue token the API server no longer honours (410 Gone, after its history was compacted;
 * a cursor kept across runs usually is) is answered with the token the refusal carries, which
 * resumes after the same pod at the current version. A server whose refusal carries none has the
 * namespace's listing start over, once per run; a second expiry is reported as a failure. A
 * namespace whose listing fails is reported and the scan goes on with the next one.
 */
import type pg from 'pg';
import type { Config } from '../../shared/config.js';
import {
  activeNamespaces,
  activeReservationsFor,
  dueOomNotices,
  loadScanCursor,
  recordedOomKills,
} from '../../shared/db/queries/oom.js';
import type { ScanCursor } from '../../shared/db/queries/oom.js';
import type { PodSummary } from '../../shared/kube/pod-health.js';
import { summarizePod } from '../../shared/kube/pod-summary.js';
import type { PodLike } from '../../shared/kube/pod-summary.js';
import type { PodExec, PodPage as ListedPage, PodReader } from '../../shared/kube/pods.js';
import type { KernelDeps, LoadInput } from '../../shared/runtime/define-function.js';
import type { BaseOptions, Invocation } from '../../shared/runtime/invocation.js';
import type { Run } from '../../shared/runtime/run.js';
import { killKey, scanOrder, showsOomKill } from './decide.js';
import type { DueNotices, NoticeChannel, OomPolicy, PodPage, ScanStart } from './decide.js';

export interface OomDeps extends KernelDeps {
  pool: pg.Pool;
  pods: PodReader;
  exec: PodExec;
  config: Config;
}

/** Sends of one notice, at most; then it stays failed (and counted) for an operator. */
export const NOTICE_MAX_ATTEMPTS = 10;
// Notices per channel per run: they go one exec (or post) at a time after the pages.
const NOTICES_PER_RUN = 50;

/** Where the scan stands: the namespaces of this pass from the cursor, and the next read. */
interface Position {
  order: ScanStart[];
  at: number;
  token: string | undefined;
  /** This namespace was listed again from its start in this run (allowed once). */
  relisted: boolean;
  /** Pods read in this run so far, for the failure message. */
  scanned: number;
}

export interface OomPage extends PodPage {
  /** A scan page: where it was read, and the cursor once it is fully recorded. */
  scan?: { position: Position; continueToken: string | undefined; after: ScanCursor & { passCompleted: boolean } };
}

type Input = LoadInput<BaseOptions, OomDeps>;

export async function loadOom({ run, deps, invocation }: Input): Promise<OomPage | undefined> {
  if (invocation.kind === 'event') return eventPage(deps, summarizePod(invocation.event.data as PodLike));
  const namespaces = await activeNamespaces(deps.pool, deps.config.policy.reservationNamespace);
  const order = scanOrder(namespaces, await loadScanCursor(deps.pool));
  return readPage(run, deps, { order, at: 0, token: order[0]?.continueToken, relisted: false, scanned: 0 });
}

/** The scan's next page: on in the namespace, or the next namespace from its start. */
export function nextOomPage({ run, deps }: Input, page: OomPage): Promise<OomPage | undefined> {
  if (!page.scan) return Promise.resolve(undefined);
  const { position, continueToken } = page.scan;
  const scanned = position.scanned;
  if (continueToken !== undefined) return readPage(run, deps, { ...position, token: continueToken, scanned });
  return readPage(run, deps, {
    order: position.order,
    at: position.at + 1,
    token: undefined,
    relisted: false,
    scanned,
  });
}

async function readPage(run: Run, deps: OomDeps, start: Position): Promise<OomPage | undefined> {
  const counts = { relists: 0, resumed_after_expiry: 0 };
  for (let position = start; position.at < position.order.length;) {
    const namespace = position.order[position.at]!.namespace;
    const read = await listPage(deps, namespace, position, counts);
    if ('failure' in read) {
      // One namespace's failure does not blind the others; the cursor stays for the rest of the run.
      run.fail('listing pods', `in ${namespace}${read.failure}`, read.error);
      position = { ...position, at: position.at + 1, token: undefined, relisted: false };
      continue;
    }
    const here = { ...position, relisted: read.relisted, scanned: position.scanned + read.page.pods.length };
    const page = await podPage(deps, read.page.pods, 'scan', {
      pages: 1,
      pods_scanned: read.page.pods.length,
      ...counts,
    });
    return {
      ...page,
      scan: {
        position: here,
        continueToken: read.page.continueToken,
        after: cursorAfter(here, read.page.continueToken),
      },
    };
  }
  return undefined;
}

type Listed = { page: ListedPage; relisted: boolean } | { failure: string; error: unknown };

async function listPage(
  deps: OomDeps,
  namespace: string,
  position: Position,
  counts: { relists: number; resumed_after_expiry: number },
): Promise<Listed> {
  const pageSize = deps.config.policy.oomScanPageSize;
  let { token, relisted } = position;
  for (let expiredInARow = 0; ;) {
    let page;
    try {
      page = await deps.pods.listReservationPods(namespace, pageSize, token);
    } catch (err) {
      return { failure: ` failed after ${position.scanned} pods`, error: err };
    }
    if (!('expired' in page)) return { page, relisted };
    expiredInARow += 1;
    if (page.resumeToken !== undefined && expiredInARow === 1) {
      counts.resumed_after_expiry += 1;
      token = page.resumeToken;
      continue;
    }
    if (relisted)
      return { failure: '', error: new Error('the continue token expired twice in one run; the next run lists again') };
    relisted = true;
    counts.relists += 1;
    token = undefined;
  }
}

/** The cursor once this page is recorded: on in its namespace, the next namespace, or a new pass. */
function cursorAfter(position: Position, continueToken: string | undefined): ScanCursor & { passCompleted: boolean } {
  if (continueToken !== undefined)
    return { namespace: position.order[position.at]!.namespace, continueToken, passCompleted: false };
  const next = position.order[position.at + 1];
  // Past the last namespace the pass is complete: the empty name sorts before every namespace.
  return { namespace: next?.namespace ?? '', continueToken: undefined, passCompleted: next === undefined };
}

function eventPage(deps: OomDeps, pod: PodSummary): Promise<OomPage> {
  return podPage(deps, [pod], 'event', { pods_scanned: 1 });
}

async function podPage(
  deps: OomDeps,
  pods: PodSummary[],
  detectedBy: 'scan' | 'event',
  counts: Record<string, number>,
): Promise<OomPage> {
  const policy: OomPolicy = {
    reservationLabel: deps.config.policy.reservationLabel,
    reservationNamespace: deps.config.policy.reservationNamespace,
  };
  // The rest of the page is dropped here: a run holds only the pods that show a kill.
  const killed = pods.filter(showsOomKill);
  if (killed.length === 0) return { detectedBy, killed, reservations: [], recorded: new Set(), counts, policy };
  const labelled = killed.flatMap((pod) => pod.labels?.[policy.reservationLabel] ?? []);
  const [reservations, recorded] = await Promise.all([
    activeReservationsFor(
      deps.pool,
      labelled,
      killed.map((pod) => pod.name),
    ),
    // An event proposes every kill its pod shows (recording is keyed): no lookup needed.
    detectedBy === 'scan'
      ? recordedOomKills(
          deps.pool,
          killed.map((pod) => pod.uid),
        )
      : Promise.resolve([]),
  ]);
  return { detectedBy, killed, reservations, recorded: new Set(recorded.map(killKey)), counts, policy };
}

/** The notices due on a channel: every due one for a scan, only the event's pod's for an event. */
export function noticesLoader(channel: NoticeChannel) {
  return async ({ run, deps, invocation }: Input): Promise<DueNotices> => {
    const podUids = eventPodUids(invocation);
    const due = {
      now: run.now(),
      maxAttempts: NOTICE_MAX_ATTEMPTS,
      limit: NOTICES_PER_RUN,
      ...(podUids && { podUids }),
    };
    const rows = await dueOomNotices(deps.pool, channel, due);
    return {
      channel,
      maxAttempts: NOTICE_MAX_ATTEMPTS,
      notices: rows.map((row) => ({
        podUid: row.pod_uid,
        container: row.container,
        ordinal: row.restart_count,
        reservationId: row.reservation_id,
        podName: row.pod_name,
        namespace: row.namespace,
        finishedAt: row.finished_at,
        oomCount: row.oom_count,
        attempts: row.attempts,
        lastError: row.last_error,
      })),
    };
  };
}

function eventPodUids(invocation: Invocation<BaseOptions>): string[] | undefined {
  if (invocation.kind !== 'event') return undefined;
  return [summarizePod(invocation.event.data as PodLike).uid];
}

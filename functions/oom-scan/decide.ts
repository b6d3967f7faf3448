/*
 * oom-scan's decisions, pure: which OOM kills do these pods show, which of them to record, and
 * which notices to send. A kill is identified by (pod uid, container, kill ordinal), where the
 * ordinal is the number of terminations the container has had counting this one. A kill seen while
 * the container is still down (state.terminated, restartCount N) and seen again after the restart
 * (lastState.terminated, restartCount N+1) is one kill, so it is recorded once (origin bug A-15
 * compared timestamp strings and counted some kills every run).
 */
import type { ContainerSummary, PodSummary } from '../../shared/kube/pod-health.js';
import type { Action, Plan } from '../../shared/plan.js';

export interface OomKill {
  reservationId: string;
  podUid: string;
  podName: string;
  namespace: string;
  container: string;
  ordinal: number;
  finishedAt: Date | undefined;
}

/** `reservationOf` maps a pod to its active reservation, or undefined when it has none. */
function findOomKills(pods: PodSummary[], reservationOf: (pod: PodSummary) => string | undefined): OomKill[] {
  const kills: OomKill[] = [];
  for (const pod of pods) {
    const reservationId = reservationOf(pod);
    if (reservationId === undefined || pod.uid === '') continue;
    for (const container of pod.containers) {
      const kill = killIn(container);
      if (kill)
        kills.push({
          reservationId,
          podUid: pod.uid,
          podName: pod.name,
          namespace: pod.namespace,
          container: container.name,
          ...kill,
        });
    }
  }
  return kills;
}

/** Whether a pod shows any OOM kill: only such pods need their reservation looked up. */
export function showsOomKill(pod: PodSummary): boolean {
  return pod.uid !== '' && pod.containers.some((container) => killIn(container) !== undefined);
}

export interface ReservationPodRow {
  reservation_id: string;
  pod_name: string | null;
  namespace: string | null;
}

/**
 * Maps a pod to its active reservation: the one its reservation label names, when that row has the
 * pod's name and namespace; for an unlabelled pod, a row with its name and namespace. Lookups are by
 * key, so matching a page costs O(pods + rows).
 */
function reservationMatcher(
  rows: ReservationPodRow[],
  reservationLabel: string,
  defaultNamespace: string,
): (pod: PodSummary) => string | undefined {
  const podKey = (namespace: string, name: string) => `${namespace}\u0000${name}`;
  const byId = new Map<string, ReservationPodRow>();
  const byPod = new Map<string, string>();
  for (const row of rows) {
    byId.set(row.reservation_id, row);
    if (row.pod_name === null) continue;
    const key = podKey(row.namespace ?? defaultNamespace, row.pod_name);
    if (!byPod.has(key)) byPod.set(key, row.reservation_id);
  }
  return (pod) => {
    const labelled = pod.labels?.[reservationLabel];
    if (labelled === undefined) return byPod.get(podKey(pod.namespace, pod.name));
    const row = byId.get(labelled);
    return row && row.pod_name === pod.name && (row.namespace ?? defaultNamespace) === pod.namespace
      ? row.reservation_id
      : undefined;
  };
}

export interface ScanStart {
  namespace: string;
  continueToken?: string | undefined;
}

/**
 * The namespaces a scan run reads, in order, from where the last run left the cursor: its
 * namespace from its continue token, then every later one (in code-point order). A cursor naming a
 * namespace with no active reservations any more starts at the next one; a cursor past the last,
 * or none, starts a new pass at the first. A run reads at most to the end of the pass.
 */
export function scanOrder(namespaces: readonly string[], cursor: ScanStart | undefined): ScanStart[] {
  const sorted = [...new Set(namespaces)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const from = cursor === undefined ? 0 : sorted.findIndex((namespace) => namespace >= cursor.namespace);
  const rest = from < 0 ? sorted : sorted.slice(from);
  return rest.map((namespace, at) =>
    at === 0 && from >= 0 && namespace === cursor?.namespace && cursor.continueToken !== undefined
      ? { namespace, continueToken: cursor.continueToken }
      : { namespace },
  );
}

function killIn(container: ContainerSummary): { ordinal: number; finishedAt: Date | undefined } | undefined {
  const restarts = container.restartCount ?? 0;
  if (container.terminated?.reason === 'OOMKilled')
    return { ordinal: restarts + 1, finishedAt: container.terminated.finishedAt };
  if (container.lastTerminated?.reason === 'OOMKilled')
    return { ordinal: restarts, finishedAt: container.lastTerminated.finishedAt };
  return undefined;
}

export function oomNoticeContent(
  kill: { container: string; finishedAt: Date | undefined; oomCount: number },
  now: Date,
): string {
  const when = (kill.finishedAt ?? now)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, ' UTC');
  return [
    '='.repeat(72),
    '  OUT OF MEMORY: a process in this dev server was killed',
    '='.repeat(72),
    '',
    `Container:        ${kill.container}`,
    `Killed at:        ${when}`,
    `OOM kills so far: ${kill.oomCount}`,
    '',
    'The container ran out of memory and was restarted; unsaved work in killed processes is lost.',
    'To avoid it: reduce batch sizes or parallel workers, stream data instead of loading it whole,',
    'watch memory with `free -h` / `nvidia-smi`, or reserve a machine with more memory.',
    '',
    `Generated at ${now
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d{3}Z$/, ' UTC')}`,
    '='.repeat(72),
    '',
  ].join('\n');
}

/** A kill's identity as one string: pod uid, container, ordinal. */
export const killKey = (kill: { podUid: string; container: string; ordinal: number }): string =>
  `${kill.podUid}/${kill.container}/${kill.ordinal}`;

export interface OomPolicy {
  reservationLabel: string;
  reservationNamespace: string;
}

/** A page of pods as load read it: a page of the scan, or the one pod of a pod event. */
export interface PodPage {
  detectedBy: 'scan' | 'event';
  /** The page's pods that show a kill; the others are only counted. */
  killed: PodSummary[];
  /** Active reservations that may own the killed pods. */
  reservations: ReservationPodRow[];
  /** Keys (killKey) of the killed pods' kills already recorded. */
  recorded: ReadonlySet<string>;
  /** What reading the page took: pods, pages, relists, resumed expiries. */
  counts: Record<string, number>;
  policy: OomPolicy;
}

export interface RecordKill extends Action {
  kind: 'record-kill';
  kill: OomKill;
  detectedBy: 'scan' | 'event';
}

/**
 * One action per kill the page shows that is not recorded yet. An event's kills are all proposed:
 * recording is keyed, so one already there is a no-op, and the event is still recorded as consumed.
 */
export function decideKills(page: PodPage): Plan<RecordKill> {
  const kills = findOomKills(
    page.killed,
    reservationMatcher(page.reservations, page.policy.reservationLabel, page.policy.reservationNamespace),
  );
  const actions = kills
    .filter((kill) => !page.recorded.has(killKey(kill)))
    .map((kill): RecordKill => ({
      kind: 'record-kill',
      kill,
      detectedBy: page.detectedBy,
      entity: { kind: 'reservation', id: kill.reservationId },
      reason: `container ${kill.container} of pod ${kill.namespace}/${kill.podName} was OOM-killed (its termination #${kill.ordinal}), seen by the ${page.detectedBy}`,
      inputs: {
        podUid: kill.podUid,
        container: kill.container,
        ordinal: kill.ordinal,
        finishedAt: kill.finishedAt?.toISOString() ?? null,
      },
      item: { reservationId: kill.reservationId, container: kill.container, ordinal: kill.ordinal },
    }));
  // A scan reports its new kills even when there are none; an event that turns out a duplicate does not.
  return {
    actions,
    counts: { ...page.counts, oom_seen: kills.length, ...(page.detectedBy === 'scan' ? { oom_detected: 0 } : {}) },
  };
}

/** The two ways a kill is told: the file in the pod, and the optional webhook. */
export type NoticeChannel = 'pod' | 'webhook';

export interface OomNotice {
  podUid: string;
  container: string;
  ordinal: number;
  reservationId: string;
  podName: string;
  namespace: string;
  finishedAt: Date | null;
  oomCount: number;
  /** Sends tried so far (0: never). */
  attempts: number;
  lastError: string | null;
}

export interface DueNotices {
  channel: NoticeChannel;
  notices: OomNotice[];
  maxAttempts: number;
}

export interface Notify extends Action {
  kind: 'notify';
  channel: NoticeChannel;
  notice: OomNotice;
}

const NOTICE_ZEROS = {
  pod: { notices_sent: 0, notices_failed: 0 },
  webhook: { webhook_sent: 0, webhook_failed: 0 },
} as const;

/** One action per due notice, oldest kill first: the first send, or a retry after a failed one. */
export function decideNotices(due: DueNotices): Plan<Notify> {
  const what = due.channel === 'pod' ? 'the notice file in the pod' : 'the webhook';
  const actions = due.notices.map((notice): Notify => ({
    kind: 'notify',
    channel: due.channel,
    notice,
    entity: { kind: 'reservation', id: notice.reservationId },
    reason:
      notice.attempts === 0
        ? `OOM kill #${notice.ordinal} of container ${notice.container} is recorded and ${what} is not sent yet`
        : `retry ${notice.attempts + 1} of ${due.maxAttempts} of ${what}: ${notice.lastError ?? 'the last send did not settle'}`,
    inputs: {
      podUid: notice.podUid,
      container: notice.container,
      ordinal: notice.ordinal,
      pod: `${notice.namespace}/${notice.podName}`,
      attempts: notice.attempts,
    },
    item: {
      action: `notify-${due.channel}`,
      reservationId: notice.reservationId,
      container: notice.container,
      ordinal: notice.ordinal,
    },
  }));
  return { actions, counts: { ...NOTICE_ZEROS[due.channel] } };
}

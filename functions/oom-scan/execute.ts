/*
 * oom-scan's executors. A new kill is recorded with the reservation's oom_count, its decision and its
 * reservation.oom event in one commit (for an event run, with the inbox record of the event). A
 * notice is told the shared way (shared/notices): claimed in the kill's row, sent — the file in the
 * pod by one exec (fixed argv, content on stdin) or the webhook (JSON, e.g. a Slack incoming
 * webhook) — then marked with its decision; a failed send is retried by later runs, a bounded
 * number of times. The checkpoint moves the scan's durable cursor past a fully recorded page.
 */
import { recordOomKill, claimOomNotices, markOomNotice, saveScanCursor } from '../../shared/db/queries/oom.js';
import { buildEvent, sourceFor } from '../../shared/events/build.js';
import { EventTypes } from '../../shared/events/types.js';
import { claimAndSend, claimLeaseSeconds, podFileLeaseSeconds } from '../../shared/notices/claims.js';
import { writePodFile } from '../../shared/notices/pod-file.js';
import { postNotices } from '../../shared/notices/webhook.js';
import type { ActionResult, Executors } from '../../shared/runtime/execute.js';
import type { Run } from '../../shared/runtime/run.js';
import { oomNoticeContent } from './decide.js';
import type { OomKill, OomNotice, Notify, RecordKill } from './decide.js';
import { NOTICE_MAX_ATTEMPTS } from './load.js';
import type { OomDeps, OomPage } from './load.js';

const NOTICE_FILE = '/home/dev/OOM_DETECTED.txt';

export const killExecutors: Executors<RecordKill, OomDeps> = { 'record-kill': recordKill };
export const noticeExecutors: Executors<Notify, OomDeps> = { notify };

async function recordKill(run: Run, action: RecordKill, deps: OomDeps): Promise<ActionResult> {
  const { kill } = action;
  const now = run.now();
  const oomCount = await run.commit(async (db) => {
    const count = await recordOomKill(
      db,
      { ...kill, detectedBy: action.detectedBy, webhook: deps.config.webhook !== undefined },
      now,
    );
    if (count === undefined) return { value: undefined };
    const decision = {
      entityKind: 'reservation' as const,
      entityId: kill.reservationId,
      action: action.kind,
      reason: action.reason,
      inputs: { ...action.inputs, oomCount: count },
    };
    return { value: count, decisions: [decision], events: [oomEvent(kill, count, now)] };
  });
  // Recorded already (by another run, or an earlier sight of the same kill): nothing changed.
  if (oomCount === undefined) return { outcome: 'skipped', counts: { oom_detected: 0 }, metrics: [] };
  run.metrics.oomKills.inc();
  return { outcome: 'applied', counts: { oom_detected: 1 } };
}

function oomEvent(kill: OomKill, oomCount: number, now: Date) {
  const data = {
    reservationId: kill.reservationId,
    podName: kill.podName,
    namespace: kill.namespace,
    podUid: kill.podUid,
    container: kill.container,
    restartCount: kill.ordinal,
    oomCount,
    detectedAt: now.toISOString(),
  };
  return buildEvent(EventTypes.reservationOom, data, {
    source: sourceFor('oom-scan'),
    subject: kill.reservationId,
    time: now,
  });
}

async function notify(run: Run, action: Notify, deps: OomDeps): Promise<ActionResult> {
  const { channel, notice } = action;
  const key = { podUid: notice.podUid, container: notice.container, ordinal: notice.ordinal };
  const leaseSeconds =
    channel === 'pod'
      ? podFileLeaseSeconds(deps.config)
      : claimLeaseSeconds(deps.config.run.budgetSeconds, deps.config.webhook?.timeoutMs ?? 0);
  const claim = { now: run.now(), leaseSeconds, maxAttempts: NOTICE_MAX_ATTEMPTS };
  const { sent } = await claimAndSend(
    [notice],
    async (wanted) =>
      (await run.commit(async (db) => ({ value: await claimOomNotices(db, channel, [key], claim) }))).length > 0
        ? wanted
        : [],
    (claimed) => (channel === 'pod' ? writeNoticeFile(deps, claimed, run.now()) : postWebhook(deps, claimed)),
    { fanOut: 1, onError: (error): string | undefined => error },
  );
  // Another run holds the claim, or sent it since it was read: not this run's to send.
  if (sent.length === 0) return { outcome: 'skipped', metrics: [] };
  const error = sent[0]!.result;
  await run.commit(async (db) => {
    await markOomNotice(db, channel, key, error === undefined, error);
    const decision = {
      entityKind: 'reservation' as const,
      entityId: notice.reservationId,
      action: `notify-${channel}`,
      reason: action.reason,
      inputs: action.inputs,
      outcome: error === undefined ? ('applied' as const) : ('failed' as const),
      ...(error !== undefined && { error }),
    };
    return { value: undefined, decisions: [decision] };
  });
  if (error === undefined)
    return { outcome: 'applied', counters: [channel === 'pod' ? 'notices_sent' : 'webhook_sent'] };
  if (channel === 'webhook') return { outcome: 'failed', counters: ['webhook_failed'] }; // best effort beside the pod notice: never fails the run
  return {
    outcome: 'failed',
    counters: ['notices_failed'],
    failure: `OOM notice in ${notice.namespace}/${notice.podName}: ${error}`,
  };
}

async function writeNoticeFile(deps: OomDeps, notice: OomNotice, now: Date): Promise<string | undefined> {
  const content = oomNoticeContent(
    { container: notice.container, finishedAt: notice.finishedAt ?? undefined, oomCount: notice.oomCount },
    now,
  );
  const target = { namespace: notice.namespace, pod: notice.podName, container: deps.config.policy.mainContainer };
  const result = await writePodFile(deps.exec, target, { path: NOTICE_FILE, content });
  return result.written ? undefined : result.error;
}

async function postWebhook(deps: OomDeps, notice: OomNotice): Promise<string | undefined> {
  if (!deps.config.webhook) return 'no webhook is configured';
  const [answer] = await postNotices(deps.config.webhook, [notice], webhookPayload);
  return answer;
}

function webhookPayload(notice: OomNotice) {
  const killedAt = notice.finishedAt?.toISOString() ?? null;
  return {
    text: `Out of memory: container ${notice.container} of reservation ${notice.reservationId.slice(0, 8)} was killed${killedAt ? ` at ${killedAt}` : ''} (${notice.oomCount} OOM kill(s) so far).`,
    type: 'reservation.oom',
    reservationId: notice.reservationId,
    podName: notice.podName,
    namespace: notice.namespace,
    container: notice.container,
    restartCount: notice.ordinal,
    killedAt,
    oomCount: notice.oomCount,
  };
}

/** Moves the durable cursor past a page whose kills are all recorded; counts a completed pass. */
export async function checkpoint(run: Run, page: OomPage): Promise<Pick<ActionResult, 'counters'>> {
  if (!page.scan) return {};
  const { after } = page.scan;
  await run.commit(async (db) => ({ value: await saveScanCursor(db, after, run.now(), after.passCompleted) }));
  return after.passCompleted ? { counters: ['pass_completed'] } : {};
}

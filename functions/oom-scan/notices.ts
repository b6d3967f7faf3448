/*
 * Telling people about a recorded kill, after the kill's transaction: the notice file in the pod
 * (fixed argv, content on stdin) and, when configured, the webhook (JSON, e.g. a Slack incoming
 * webhook). Each send is claimed first, so concurrent runs never send one notice twice; a failed
 * send is retried by later runs, a bounded number of times.
 */
import type { NoticeChannel, PendingNotice } from '../../shared/db/queries/oom.js';
import { claimOomNotices, markOomNotice } from '../../shared/db/queries/oom.js';
import { coerceError } from '../../shared/errors.js';
import type { RunScope } from '../../shared/runtime/run-scope.js';
import { postWebhook } from '../../shared/webhook.js';
import { oomNoticeContent } from './decide.js';
import type { OomDeps } from './run.js';

const NOTICE_FILE = '/home/dev/OOM_DETECTED.txt';
const MAX_ATTEMPTS = 10;
const PER_RUN = 50;

export interface NoticeReport {
  sent: number;
  errors: string[];
}

/** `podUids`: an event run tells only about its pod's kills; the scan retries every due notice. */
export async function sendNotices(scope: RunScope, deps: OomDeps, channel: NoticeChannel, podUids?: string[]): Promise<NoticeReport> {
  const send = channel === 'pod' ? writeNoticeFile : sendWebhook;
  const timeoutMs = channel === 'pod' ? deps.config.kube.execTimeoutMs : (deps.config.webhook?.timeoutMs ?? 0);
  const errors: string[] = [];
  if (scope.now() >= scope.deadline) return { sent: 0, errors };
  // The sends are one after another, so a claim must outlive the whole run, not one send: no send
  // starts after the deadline, and the last one ends within its timeout (as warn's claims).
  const leaseSeconds = deps.config.run.budgetSeconds + Math.ceil(timeoutMs / 1000);
  const claim = { now: scope.now(), leaseSeconds, maxAttempts: MAX_ATTEMPTS, limit: PER_RUN, ...(podUids && { podUids }) };
  const pending = await claimOomNotices(deps.pool, channel, claim);
  let sent = 0;
  for (const notice of pending) {
    if (scope.now() >= scope.deadline) break; // the rest stay claimed until the lease ends, then a later run sends them
    const error = await send(deps, notice, scope.now());
    await markOomNotice(deps.pool, channel, notice, error === undefined, error);
    if (error === undefined) sent += 1;
    else errors.push(`OOM ${channel === 'pod' ? 'notice in' : 'webhook for'} ${notice.namespace}/${notice.pod_name}: ${error}`);
  }
  return { sent, errors };
}

async function writeNoticeFile(deps: OomDeps, notice: PendingNotice, now: Date): Promise<string | undefined> {
  const content = oomNoticeContent({ container: notice.container, finishedAt: notice.finished_at ?? undefined, oomCount: notice.oom_count }, now);
  try {
    const target = { namespace: notice.namespace, pod: notice.pod_name, container: deps.config.policy.mainContainer };
    const result = await deps.exec.exec(target, ['sh', '-c', 'cat > "$1"', 'sh', NOTICE_FILE], content);
    return result.exitCode === 0 ? undefined : `writing ${NOTICE_FILE} exited ${result.exitCode}`;
  } catch (err) {
    return coerceError(err).message;
  }
}

async function sendWebhook(deps: OomDeps, notice: PendingNotice): Promise<string | undefined> {
  return deps.config.webhook ? postWebhook(deps.config.webhook, webhookPayload(notice)) : 'no webhook is configured';
}

function webhookPayload(notice: PendingNotice) {
  const killedAt = notice.finished_at?.toISOString() ?? null;
  return {
    text: `Out of memory: container ${notice.container} of reservation ${notice.reservation_id.slice(0, 8)} was killed${killedAt ? ` at ${killedAt}` : ''} (${notice.oom_count} OOM kill(s) so far).`,
    type: 'reservation.oom',
    reservationId: notice.reservation_id,
    podName: notice.pod_name,
    namespace: notice.namespace,
    container: notice.container,
    restartCount: notice.restart_count,
    killedAt,
    oomCount: notice.oom_count,
  };
}

/*
 * Deliver one warning into the reservation's pod: replace the warning file (fixed argv, content on
 * stdin, the file name passed as an argument, never spliced into the script), then broadcast to
 * logged-in terminals. The file is what the prompt hook shows, so it decides success; the broadcast
 * is best effort.
 */
import { NotFound, coerceError } from '../../shared/errors.js';
import type { PodExec } from '../../shared/pods.js';
import type { WarnAction } from './decide.js';
import { WARNING_DIR, broadcastText, warningFileContent, warningFileName } from './message.js';

// Remove every older warning file, then write stdin to the file named by $1.
export const REPLACE_WARNING_SCRIPT = `rm -f ${WARNING_DIR}/WARN_EXPIRES_IN_*MIN.txt && cat > "$1"`;

export interface Delivery {
  delivered: boolean;
  broadcast: boolean;
  error?: string;
  /** Not attempted, or the pod vanished under us: nothing to record, nothing failed. */
  skipped?: 'pod_missing' | 'pod_mismatch' | 'claimed_elsewhere';
}

export async function deliverWarning(exec: PodExec, container: string, action: WarnAction, now: Date): Promise<Delivery> {
  const target = { namespace: action.namespace, pod: action.podName, container };
  const text = { reservationId: action.reservationId, minutesLeft: action.minutesLeft, expiresAt: action.expiresAt, now };
  try {
    const file = await exec.exec(target, ['sh', '-c', REPLACE_WARNING_SCRIPT, 'sh', warningFileName(action.minutesLeft)], warningFileContent(text));
    if (file.exitCode !== 0) return { delivered: false, broadcast: false, error: `writing the warning file exited ${file.exitCode}: ${file.stderr.trim().slice(0, 200)}` };
  } catch (err) {
    // A pod deleted since it was checked is left to expire, like one that was never there.
    if (err instanceof NotFound) return { delivered: false, broadcast: false, skipped: 'pod_missing' };
    return { delivered: false, broadcast: false, error: coerceError(err).message };
  }
  const broadcast = await exec.exec(target, ['wall'], broadcastText(text)).then((r) => r.exitCode === 0, () => false);
  return { delivered: true, broadcast };
}

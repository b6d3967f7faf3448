/*
 * Deliver one warning into the reservation's pod with ONE exec: a fixed script removes every older
 * warning file, writes stdin to the file named by $1, then broadcasts $2 with `wall`. The file name
 * and the broadcast text are arguments (argv), never spliced into the script, so no user text ever
 * reaches a shell parser. The action links travel in the file (stdin) only. The file is what the prompt hook shows, so it decides success; the
 * broadcast is best effort, reported by its own exit code.
 */
import { NotFound, coerceError } from '../../shared/errors.js';
import type { PodExec } from '../../shared/kube/pods.js';
import type { WarnAction } from './decide.js';
import { WARNING_DIR, broadcastText, warningFileContent, warningFileName } from './message.js';
import type { LinkText, WarningText } from './message.js';

/** The script's exit code when the file was written but `wall` failed. */
export const BROADCAST_FAILED = 75;

// A failed remove or write exits 1 before the broadcast; a failed `wall` exits 75 after the file is in place.
export const DELIVER_WARNING_SCRIPT = `rm -f ${WARNING_DIR}/WARN_EXPIRES_IN_*MIN.txt && cat > "$1" || exit 1; wall "$2" || exit ${BROADCAST_FAILED}`;

export interface Delivery {
  delivered: boolean;
  broadcast: boolean;
  error?: string;
  /** Not attempted, or the pod vanished under us: nothing to record, nothing failed. */
  skipped?: 'pod_missing' | 'pod_mismatch' | 'claimed_elsewhere';
}

/** The argv of the one exec: the script, then the file name and the broadcast line as its $1 and $2. */
export function deliveryArgv(text: WarningText): string[] {
  // wall ends the message with a newline itself.
  return ['sh', '-c', DELIVER_WARNING_SCRIPT, 'sh', warningFileName(text.minutesLeft), broadcastText(text).replace(/\n$/, '')];
}

export async function deliverWarning(exec: PodExec, container: string, action: WarnAction, now: Date, links: readonly LinkText[] = []): Promise<Delivery> {
  const target = { namespace: action.namespace, pod: action.podName, container };
  const text = { reservationId: action.reservationId, minutesLeft: action.minutesLeft, expiresAt: action.expiresAt, now, links };
  try {
    const result = await exec.exec(target, deliveryArgv(text), warningFileContent(text));
    if (result.exitCode === 0) return { delivered: true, broadcast: true };
    if (result.exitCode === BROADCAST_FAILED) return { delivered: true, broadcast: false };
    return { delivered: false, broadcast: false, error: `writing the warning file exited ${result.exitCode}: ${result.stderr.trim().slice(0, 200)}` };
  } catch (err) {
    // A pod deleted since it was checked is left to expire, like one that was never there.
    if (err instanceof NotFound) return { delivered: false, broadcast: false, skipped: 'pod_missing' };
    return { delivered: false, broadcast: false, error: coerceError(err).message };
  }
}

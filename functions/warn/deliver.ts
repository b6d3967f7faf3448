/*
 * Deliver one warning into the reservation's pod with ONE exec (shared/notices/pod-file.ts): the
 * script removes every older warning file, writes stdin to the file named by $1, then broadcasts
 * $2 with `wall`. The action links travel in the file (stdin) only. The file is what the prompt
 * hook shows, so it decides success; the broadcast is best effort. A redelivery after a killed run
 * writes the file only: the broadcast may already have gone out.
 */
import { podFileScript, writePodFile } from '../../shared/notices/pod-file.js';
import type { PodExec } from '../../shared/kube/pods.js';
import type { WarnAction } from './decide.js';
import { WARNING_DIR, broadcastText, warningFileContent, warningFileName } from './message.js';
import type { LinkText } from './message.js';

const OLDER_WARNINGS = `${WARNING_DIR}/WARN_EXPIRES_IN_*MIN.txt`;

export const DELIVER_WARNING_SCRIPT = podFileScript(OLDER_WARNINGS, true);

export interface Delivery {
  delivered: boolean;
  broadcast: boolean;
  error?: string;
  /** The pod vanished under us: nothing failed that a retry could fix now. */
  skipped?: 'pod_missing';
}

type Deliverable = Pick<WarnAction, 'reservationId' | 'podName' | 'namespace' | 'expiresAt' | 'minutesLeft'> & {
  redelivery?: boolean;
};

export async function deliverWarning(
  exec: PodExec,
  container: string,
  action: Deliverable,
  now: Date,
  links: readonly LinkText[] = [],
): Promise<Delivery> {
  const target = { namespace: action.namespace, pod: action.podName, container };
  const text = {
    reservationId: action.reservationId,
    minutesLeft: action.minutesLeft,
    expiresAt: action.expiresAt,
    now,
    links,
  };
  const file = { path: warningFileName(text.minutesLeft), content: warningFileContent(text), replaces: OLDER_WARNINGS };
  const result = await writePodFile(exec, target, file, action.redelivery ? undefined : broadcastText(text));
  if (result.written) return { delivered: true, broadcast: result.broadcast };
  // A pod deleted since it was checked is left to expire, like one that was never there.
  return {
    delivered: false,
    broadcast: false,
    ...(result.gone ? { skipped: 'pod_missing' as const } : { error: result.error }),
  };
}

/*
 * Write a notice file into a reservation's pod with ONE exec: a fixed script optionally removes the
 * older files of its kind (a constant glob), writes stdin to the file named by $1, then, when asked,
 * broadcasts $2 to logged-in terminals with `wall`. The file name and the broadcast line are
 * arguments (argv), never spliced into the script, so no user text reaches a shell parser; the
 * content travels on stdin (SPEC 5.6, origin A-16). Writing the same content again is harmless,
 * which is why a pod file may be delivered again after a killed run; a broadcast may not.
 */
import { Invalid, NotFound, coerceError } from '../errors.js';
import type { ExecTarget } from '../kube/exec.js';
import type { PodExec } from '../kube/pods.js';

/** The script's exit code when the file was written but `wall` failed. */
export const BROADCAST_FAILED = 75;

export interface PodFile {
  /** Absolute path of the file; an argument of the script, never part of it. */
  path: string;
  content: string;
  /** A constant glob (e.g. /home/dev/WARN_*.txt) of older files removed before the write. */
  replaces?: string;
}

export type PodFileResult =
  /** `broadcast`: whether the line reached `wall` (false when none was asked for). */
  | { written: true; broadcast: boolean }
  /** `gone`: the pod is not there (a definite 404), so nothing failed that a retry would fix here. */
  | { written: false; broadcast: false; error: string; gone?: true };

// Only what a path glob needs: the glob is part of the script, so it must not carry shell syntax.
const SAFE_GLOB = /^\/[A-Za-z0-9_./*-]+$/;

/** The fixed script for a file (and optionally a broadcast): $1 is the path, $2 the broadcast line. */
export function podFileScript(replaces: string | undefined, broadcast: boolean): string {
  if (replaces !== undefined && !SAFE_GLOB.test(replaces))
    throw new Invalid(`not a plain path glob: ${JSON.stringify(replaces)}`);
  // A failed remove or write exits 1 before the broadcast; a failed `wall` exits 75 after the file is in place.
  const write = `${replaces === undefined ? '' : `rm -f ${replaces} && `}cat > "$1" || exit 1`;
  return broadcast ? `${write}; wall "$2" || exit ${BROADCAST_FAILED}` : write;
}

/** The argv of the one exec: the script, then the path and (when broadcasting) the line as $1 and $2. */
export function podFileArgv(file: Pick<PodFile, 'path' | 'replaces'>, broadcast?: string): string[] {
  const script = podFileScript(file.replaces, broadcast !== undefined);
  // wall ends the message with a newline itself.
  return ['sh', '-c', script, 'sh', file.path, ...(broadcast === undefined ? [] : [broadcast.replace(/\n$/, '')])];
}

/** Never throws: the answer says whether the file is in place, and whether the broadcast went out. */
export async function writePodFile(
  exec: PodExec,
  target: ExecTarget,
  file: PodFile,
  broadcast?: string,
): Promise<PodFileResult> {
  try {
    const result = await exec.exec(target, podFileArgv(file, broadcast), file.content);
    if (result.exitCode === 0) return { written: true, broadcast: broadcast !== undefined };
    if (result.exitCode === BROADCAST_FAILED && broadcast !== undefined) return { written: true, broadcast: false };
    return {
      written: false,
      broadcast: false,
      error: `writing ${file.path} exited ${result.exitCode}: ${result.stderr.trim().slice(0, 200)}`,
    };
  } catch (err) {
    const error = coerceError(err).message;
    return err instanceof NotFound
      ? { written: false, broadcast: false, error, gone: true }
      : { written: false, broadcast: false, error };
  }
}

/*
 * What the functions ask the cluster about reservation pods, as a narrow port. The evidence rules
 * live here once: a pod is `absent` only on a definite 404 for its name in a namespace that
 * exists; a label listing that does not show a pod proves nothing (the pod may simply lack our
 * label, or its id cannot be a label value), so callers read such pods by name before drawing any
 * conclusion.
 */
import type { PodSummary } from './pod-health.js';

export interface LabelledPods {
  /** Pods found by the reservation label, keyed by reservation id. */
  pods: Map<string, PodSummary>;
  /** Ids whose listing failed, with the error: unknown, not absent. Other unlisted ids are to be read by name. */
  failed: Map<string, string>;
}

export interface PodPage {
  pods: PodSummary[];
  /** Absent on the last page. */
  continueToken?: string;
}

export interface ExpiredList {
  expired: true;
  resumeToken?: string;
}

export interface PodReader {
  /**
   * Pods labelled with these reservation ids, one list call per chunk. A chunk that fails marks
   * only its own ids failed; ids that are not valid label values are never put in a selector.
   */
  podsForReservations(namespace: string, reservationIds: readonly string[]): Promise<LabelledPods>;
  /**
   * One page (at most `pageSize`) of the pods in the namespace carrying the reservation label,
   * continuing from the previous page's `continueToken`; `expired` when the server no longer
   * honours that token (410), with the token its refusal carries to resume after the same pod
   * (an inconsistent continuation at the current version), when it carries one.
   */
  listReservationPods(namespace: string, pageSize: number, continueToken?: string): Promise<PodPage | ExpiredList>;
  /**
   * One pod by name: its summary, or 'absent' on a definite 404 in a namespace that exists
   * (checked once a minute per namespace). A 404 in a missing namespace, and any other failure,
   * throws.
   */
  readPod(namespace: string, name: string): Promise<PodSummary | 'absent'>;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/**
 * Run a fixed argv in a pod's container with `stdin` as input. Nothing user-supplied is ever put in
 * the argv: content travels on stdin (SPEC 5.6, origin bug A-16).
 * @throws NotFound when the pod is gone; Transient on timeouts and API trouble
 */
export interface PodExec {
  exec(
    target: { namespace: string; pod: string; container: string },
    argv: readonly string[],
    stdin?: string,
  ): Promise<ExecResult>;
}

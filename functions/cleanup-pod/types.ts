/*
 * A teardown's vocabulary, types only: the pure rules (decide.ts, volume.ts) and the code that
 * acts and reads (steps.ts, volume-read.ts) both import it, so neither imports the other.
 */
import type { ExpectedNames } from '../../shared/kube/labelled-resources.js';
import type { Owner } from '../../shared/kube/ownership.js';

export type Step =
  'delete_resources' | 'await_gone' | 'await_detach' | 'request_snapshot' | 'release_disk' | 'verify' | 'done';

/**
 * Whether this reservation holds the disk of its volume (`disks.reservation_id`), read at claim
 * time; a reservation whose disk has no row holds its own volume (nothing records another holder).
 */
export type DiskHolding = { holds: true } | { holds: false; holder: string | null };

export type Transition =
  | { kind: 'advance'; to: Step; reason: string; snapshot?: boolean }
  /** `escalated`: the step has waited past the policy's bound (metric, decision-log entry, alert). */
  | { kind: 'retry'; delaySeconds: number; reason: string; forceDeletePod?: boolean; escalated?: boolean }
  | { kind: 'restart'; reason: string };

/** What a teardown acts on: the reservation's names, owner and disk, as claimed. */
export interface Target {
  reservationId: string;
  namespace: string;
  podName: string | null;
  volumeId: string | null;
  owner: Owner;
  names: ExpectedNames;
  disk: DiskHolding;
}

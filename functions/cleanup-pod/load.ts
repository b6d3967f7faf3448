/*
 * cleanup-pod's reads, all read-only: the teardowns due now and the ended reservations that have
 * none yet (a lost event leaves one behind), through cleanup_progress_due and
 * reservations_terminal_since; an ended-reservation event reads only the reservation it names.
 * Starting a teardown is a write: the executor does it, with the lease, in its first commit (an
 * event's inbox record goes with it). Ended reservations past the run's share are started anyway
 * (upkeep), so the next run finds them leased by nobody and due.
 */
import type pg from 'pg';
import type { Ec2Api } from '../../shared/aws/ec2.js';
import type { LambdaApi } from '../../shared/aws/lambda.js';
import type { Config } from '../../shared/config.js';
import { dueTeardownRows, endedWithoutTeardown } from '../../shared/db/queries/cleanup.js';
import type { NamedResources } from '../../shared/kube/labelled-resources.js';
import type { KernelDeps, LoadInput } from '../../shared/runtime/define-function.js';
import type { BaseOptions } from '../../shared/runtime/invocation.js';
import type { Metrics } from '../../shared/runtime/metrics.js';
import type { Step, TeardownCandidate, TeardownLoad } from './decide.js';

export interface CleanupDeps extends KernelDeps {
  pool: pg.Pool;
  resources: NamedResources;
  ec2: Ec2Api;
  lambda: LambdaApi;
  config: Config;
  metrics: Metrics;
}

/** Ended reservations older than this are not looked for by the sweep (their teardowns finished long ago). */
const SWEEP_DAYS = 7;
/** Ended reservations the sweep starts teardowns for in one run, at most. */
const STARTS_PER_RUN = 1000;

export async function loadTeardowns({
  run,
  deps,
  invocation,
  limit,
}: LoadInput<BaseOptions, CleanupDeps>): Promise<TeardownLoad> {
  const now = run.now();
  const ids = invocation.kind === 'event' ? [invocation.event.subject ?? ''] : undefined;
  const [due, ended] = await Promise.all([
    dueTeardownRows(deps.pool, { now, limit, reservationIds: ids }),
    endedWithoutTeardown(deps.pool, {
      now,
      sweepDays: SWEEP_DAYS,
      limit: ids ? ids.length : STARTS_PER_RUN,
      reservationIds: ids,
    }),
  ]);
  const candidates: TeardownCandidate[] = [
    ...due.map((row) => ({
      reservationId: row.reservation_id,
      step: row.step as Step,
      attempts: row.attempts,
      dueAt: row.next_attempt_at,
      fresh: false,
    })),
    ...ended.map((row) => ({
      reservationId: row.reservation_id,
      step: 'delete_resources' as const,
      attempts: 0,
      dueAt: row.status_changed_at,
      fresh: true,
    })),
  ];
  // An event's reservation is always in the upkeep: its start (a no-op when there is nothing to tear
  // down, or when the teardown exists) records the event in the inbox even when the work itself
  // waits for the next run, so the event is never acknowledged without a trace.
  const toStart = ids ?? ended.map((row) => row.reservation_id);
  return { candidates, toStart };
}

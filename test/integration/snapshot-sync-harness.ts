/*
 * snapshot-sync against the real things: the testkit's world (test/support/world.ts) with its
 * configuration pointed at the simulator, so the real EC2 client talks to the AWS simulator over
 * HTTP; the test's own database; Knative-style delivery to a local sink that records the
 * CloudEvents it receives.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { snapshotSync } from '../../functions/snapshot-sync/handler.js';
import { ManualClock } from '../../shared/clock.js';
import type { Deps } from '../../shared/deps.js';
import { buildEvent, sourceFor } from '../../shared/events/build.js';
import type { ParsedEvent } from '../../shared/events/parse.js';
import type { EventData } from '../../shared/events/schemas.js';
import { EventTypes } from '../../shared/events/types.js';
import type { BaseOptions, Invocation, RunResult } from '../../shared/runtime/invocation.js';
import type { AwsSim } from '../../sim/aws/index.js';
import { useTestDatabase } from '../support/database.js';
import type { TestDatabase } from '../support/database.js';
import { insertDisk, insertReservation } from '../support/fixtures.js';
import { startWorld } from '../support/world.js';

export interface SyncHarness {
  /** The simulated AWS (the world's simulator serves it). */
  aws: { sim: AwsSim };
  clock: ManualClock;
  deps: Deps;
  /** CloudEvents delivered to the sink: type and data. */
  delivered: { type: string; data: Record<string, unknown> }[];
  /** Empty database tables and simulator, so each test sees only what it seeds. */
  reset(): Promise<void>;
  run(options?: Partial<BaseOptions>): Promise<RunResult>;
  runEvent(data: PodCleanedData, eventId?: string, options?: Partial<BaseOptions>): Promise<RunResult>;
  close(): Promise<void>;
}

export type PodCleanedData = EventData<typeof EventTypes.podCleaned>;

/** Where the snapshot-sync tests' clock starts (their fixtures are relative to it). */
const SYNC_START = '2026-03-01T12:00:00Z';

function startSink(delivered: SyncHarness['delivered']): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      delivered.push({
        type: String(req.headers['ce-type']),
        data: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>,
      });
      res.writeHead(202).end();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

export async function startSyncHarness(
  db: TestDatabase,
  env: Record<string, string> = {},
  requestTimeoutMs = 2_000,
): Promise<SyncHarness> {
  const delivered: SyncHarness['delivered'] = [];
  const sink = await startSink(delivered);
  const world = await startWorld(db, {
    clock: new ManualClock(SYNC_START),
    env: {
      AWS_REQUEST_TIMEOUT_MS: String(requestTimeoutMs),
      K_SINK: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/`,
      EVENT_DELIVERY: 'knative',
      ...env,
    },
  });
  const { deps, clock } = world;
  const invoke = (invocation: Invocation<BaseOptions>) => snapshotSync.handle(invocation, deps);
  return {
    aws: { sim: world.sim.aws },
    clock,
    deps,
    delivered,
    reset: async () => {
      world.sim.aws.reset();
      delivered.length = 0;
      await db.pool
        .query(`truncate snapshots, snapshot_disk_sync, snapshot_sync_waits, cleanup_progress, disks, reservations, event_inbox,
        event_outbox, decision_log, function_runs cascade`);
    },
    run: (options = {}) =>
      invoke({
        kind: 'schedule',
        source: 'cron-connector',
        callId: randomUUID(),
        options: { dryRun: false, ...options },
      }),
    runEvent: (data, eventId = randomUUID(), options = {}) => {
      const built = buildEvent(EventTypes.podCleaned, data, {
        source: sourceFor('cleanup-pod'),
        subject: data.reservationId,
        id: eventId,
        time: clock.now(),
      });
      const event = {
        type: built.type,
        source: built.source,
        id: built.id,
        subject: built.subject,
        data: built.data,
      } as ParsedEvent;
      return invoke({ kind: 'event', callId: eventId, event, options: { dryRun: false, ...options } });
    },
    close: async () => {
      await world.close();
      sink.closeAllConnections();
      await new Promise<void>((resolve) => sink.close(() => resolve()));
    },
  };
}

/**
 * A harness on `db`, started before the tests of the file or describe block that calls this and
 * closed after them. It is filled in when started, so read its fields inside hooks and tests only.
 */
export function useSyncHarnessOn(
  db: TestDatabase,
  env: Record<string, string> = {},
  requestTimeoutMs?: number,
): SyncHarness {
  const h = {} as SyncHarness;
  beforeAll(async () => {
    Object.assign(h, await startSyncHarness(db, env, requestTimeoutMs));
  });
  afterAll(async () => {
    await h.close();
  });
  return h;
}

/** The file's own database and its harness, emptied before each test so each sees only what it seeds. */
export function useSyncHarness(env: Record<string, string> = {}): { db: TestDatabase; h: SyncHarness } {
  const db = useTestDatabase();
  const h = useSyncHarnessOn(db, env);
  beforeEach(() => h.reset());
  return { db, h };
}

export interface Teardown {
  reservationId: string;
  userId: string;
  diskId: string;
  diskName: string;
  volumeId: string;
  podCleaned: PodCleanedData;
}

export interface TeardownOptions {
  attached?: boolean;
  status?: string;
  step?: string | null;
  withDisk?: boolean;
  userId?: string;
  /** The volume's tags; by default they name the user and the disk, as the platform's do. */
  volumeTags?: Record<string, string>;
}

/** An ended reservation, its disk (released) and its volume, with cleanup-pod's progress row. */
export async function seedTeardown(h: SyncHarness, db: TestDatabase, options: TeardownOptions = {}): Promise<Teardown> {
  const now = h.clock.now();
  const minutesAgo = (minutes: number) => new Date(now.getTime() - minutes * 60_000);
  const userId = options.userId ?? `dev-${randomUUID().slice(0, 6)}@example.com`;
  const diskName = `home-${randomUUID().slice(0, 6)}`;
  const tags = options.volumeTags ?? { 'gpu-dev-user': userId, disk_name: diskName };
  const { volumeId } = h.aws.sim.addVolume({ sizeGiB: 100, tags, attachedTo: options.attached ? 'i-0abc' : undefined });
  const reservation = await insertReservation(db.pool, {
    user_id: userId,
    status: options.status ?? 'expired',
    created_at: minutesAgo(300),
    launched_at: minutesAgo(290),
    expires_at: minutesAgo(20),
    status_changed_at: minutesAgo(15),
    disk_name: diskName,
    ebs_volume_id: volumeId,
  });
  const disk =
    options.withDisk === false
      ? { disk_id: '' }
      : await insertDisk(db.pool, { user_id: userId, disk_name: diskName, ebs_volume_id: volumeId });
  if (options.step !== null) {
    await db.pool.query(
      `insert into cleanup_progress (reservation_id, step, volume_id, next_attempt_at, started_at, updated_at, completed_at)
       values ($1, $2::text, $3, $4, $4, $4, case when $2::text = 'done' then $4::timestamptz end)`,
      [reservation.reservation_id, options.step ?? 'done', volumeId, minutesAgo(5)],
    );
  }
  const podCleaned: PodCleanedData = {
    reservationId: reservation.reservation_id,
    userId,
    podName: reservation.pod_name,
    namespace: 'gpu-dev',
    diskName,
    volumeId,
    cleanedAt: minutesAgo(5).toISOString(),
  };
  return { reservationId: reservation.reservation_id, userId, diskId: disk.disk_id, diskName, volumeId, podCleaned };
}

export interface SnapshotRow {
  id: string;
  snapshot_id: string | null;
  state: string;
  kind: string;
  volume_outcome: string | null;
  delete_after: string | null;
}

export async function snapshotRows(db: TestDatabase, where = 'true', values: unknown[] = []): Promise<SnapshotRow[]> {
  const { rows } = await db.pool.query<SnapshotRow>(
    `select id::text, snapshot_id, state, kind, volume_outcome, delete_after::text as delete_after from snapshots where ${where} order by id`,
    values,
  );
  return rows;
}

export interface DiskCounters {
  pending_snapshot_count: number;
  snapshot_count: number;
  is_backing_up: boolean;
  last_snapshot_at: Date | null;
  size_gb: number | null;
  ebs_volume_id: string | null;
}

export async function diskCounters(db: TestDatabase, diskId: string): Promise<DiskCounters> {
  const { rows } = await db.pool.query<DiskCounters>(
    `select pending_snapshot_count, snapshot_count, is_backing_up, last_snapshot_at, size_gb, ebs_volume_id from disks where disk_id = $1`,
    [diskId],
  );
  return rows[0]!;
}

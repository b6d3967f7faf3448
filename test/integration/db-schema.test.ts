import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../support/database.js';
import { FIXTURE_NOW, insertDisk, insertLab, insertReservation } from '../support/fixtures.js';

const db = useTestDatabase();
const past = new Date('2026-01-01T00:00:00Z');

async function reservationStamp(id: string) {
  const { rows } = await db.pool.query<{ status_changed_at: Date }>(
    'select status_changed_at from reservations where reservation_id = $1',
    [id],
  );
  return rows[0]!.status_changed_at;
}

describe('status_changed_at on reservations', () => {
  it('moves to the transaction time when the status changes, and only then', async () => {
    const row = await insertReservation(db.pool, { status: 'queued', status_changed_at: past });
    await db.pool.query(`update reservations set failure_reason = 'x', expires_at = now() where reservation_id = $1`, [
      row.reservation_id,
    ]);
    expect(await reservationStamp(row.reservation_id)).toEqual(past);
    await db.pool.query(`update reservations set status = 'queued' where reservation_id = $1`, [row.reservation_id]);
    expect(await reservationStamp(row.reservation_id)).toEqual(past);
    const { rows } = await db.pool.query<{ changed: Date; tx: Date }>(
      `update reservations set status = 'preparing' where reservation_id = $1 returning status_changed_at as changed, now() as tx`,
      [row.reservation_id],
    );
    expect(rows[0]!.changed).toEqual(rows[0]!.tx);
  });

  it('keeps a time the writer set explicitly with the status change (our clock wins)', async () => {
    const row = await insertReservation(db.pool, { status: 'active', status_changed_at: past });
    await db.pool.query(
      `update reservations set status = 'expired', status_changed_at = $2 where reservation_id = $1`,
      [row.reservation_id, FIXTURE_NOW],
    );
    expect(await reservationStamp(row.reservation_id)).toEqual(FIXTURE_NOW);
  });
});

describe('ending_since on labs', () => {
  const labStamps = async (id: string) =>
    (
      await db.pool.query<{ ending_since: Date | null; status_changed_at: Date }>(
        'select ending_since, status_changed_at from labs where id = $1',
        [id],
      )
    ).rows[0]!;

  it('is set when a lab enters ENDING and not touched by other writes', async () => {
    const lab = await insertLab(db.pool, { status: 'ready', status_changed_at: past });
    expect((await labStamps(lab.id)).ending_since).toBeNull();
    await db.pool.query(`update labs set status = 'ending' where id = $1`, [lab.id]);
    const entered = (await labStamps(lab.id)).ending_since;
    expect(entered).not.toBeNull();
    await db.pool.query(`update labs set connection_url = 'x', updated_at = now() where id = $1`, [lab.id]);
    expect((await labStamps(lab.id)).ending_since).toEqual(entered);
  });

  it('takes the status time of a lab inserted directly in ENDING', async () => {
    const lab = await insertLab(db.pool, { status: 'ending', status_changed_at: past });
    expect((await labStamps(lab.id)).ending_since).toEqual(past);
  });

  it('is re-armed when a lab enters ENDING again', async () => {
    const lab = await insertLab(db.pool, { status: 'ending', status_changed_at: past, ending_since: past });
    await db.pool.query(`update labs set status = 'degraded' where id = $1`, [lab.id]);
    await db.pool.query(`update labs set status = 'ending' where id = $1`, [lab.id]);
    expect((await labStamps(lab.id)).ending_since!.getTime()).toBeGreaterThan(past.getTime());
  });
});

describe('timestamps are instants', () => {
  it('survive a non-UTC session TimeZone unchanged and compare as instants', async () => {
    const { url } = db;
    const pacific = new pg.Client({ connectionString: url, options: '-c TimeZone=America/Los_Angeles' });
    await pacific.connect();
    try {
      const id = randomUUID();
      await pacific.query(
        `insert into reservations (reservation_id, user_id, status, expires_at) values ($1, 'u', 'active', '2026-06-01T10:00:00+00:00')`,
        [id],
      );
      const shown = await pacific.query<{ text: string }>(
        'select expires_at::text as text from reservations where reservation_id = $1',
        [id],
      );
      expect(shown.rows[0]!.text).toBe('2026-06-01 03:00:00-07'); // same instant, local rendering
      const read = await db.pool.query<{ expires_at: Date }>(
        'select expires_at from reservations where reservation_id = $1',
        [id],
      );
      expect(read.rows[0]!.expires_at.toISOString()).toBe('2026-06-01T10:00:00.000Z');
      const match = await pacific.query(
        'select 1 from reservations where reservation_id = $1 and expires_at = $2::timestamptz',
        [id, new Date('2026-06-01T10:00:00Z')],
      );
      expect(match.rowCount).toBe(1);
    } finally {
      await pacific.end();
    }
  });
});

describe('constraints reject invalid rows', () => {
  const rejects = (sql: string, values: unknown[] = []) => expect(db.pool.query(sql, values)).rejects.toThrow();

  it('rejects unknown statuses', async () => {
    await rejects(`insert into reservations (reservation_id, user_id, status) values ($1, 'u', 'zombie')`, [
      randomUUID(),
    ]);
    await rejects(`insert into labs (id, owner_id, status) values ($1, $2, 'zombie')`, [randomUUID(), randomUUID()]);
  });

  it('rejects negative counters', async () => {
    await expect(insertReservation(db.pool, { oom_count: -1 })).rejects.toThrow(/oom_count_non_negative/);
    await expect(insertDisk(db.pool, { pending_snapshot_count: -1 })).rejects.toThrow(
      /pending_snapshot_count_non_negative/,
    );
  });

  it('keeps (user, disk name) unique and a noVNC port to one lab', async () => {
    const disk = await insertDisk(db.pool);
    await expect(insertDisk(db.pool, { user_id: disk.user_id, disk_name: disk.disk_name })).rejects.toThrow(
      /disks_user_disk_name_unique/,
    );
    await insertLab(db.pool, { novnc_host_port: 6080 });
    await expect(insertLab(db.pool, { novnc_host_port: 6080 })).rejects.toThrow(/labs_novnc_host_port_unique/);
  });

  it('records a warning level once per deadline, and only a positive level', async () => {
    const row = await insertReservation(db.pool);
    const insert = (level: number) =>
      db.pool.query(
        `insert into warning_ledger (reservation_id, expires_at, level_minutes, state, first_attempt_at, sent_at) values ($1, $2, $3, 'sent', $4, $4)`,
        [row.reservation_id, row.expires_at, level, FIXTURE_NOW],
      );
    await insert(15);
    await expect(insert(15)).rejects.toThrow(/warning_ledger_pkey/);
    await expect(insert(0)).rejects.toThrow(/warning_ledger_level_positive/);
  });

  it('allows one shutdown snapshot per (reservation, volume) and needs an id once pending', async () => {
    const row = await insertReservation(db.pool);
    const insert = (state: string, snapshotId: string | null) =>
      db.pool.query(
        `insert into snapshots (reservation_id, volume_id, user_id, state, snapshot_id, requested_at) values ($1, 'vol-1', 'u', $2, $3, $4)`,
        [row.reservation_id, state, snapshotId, FIXTURE_NOW],
      );
    await insert('requested', null);
    await expect(insert('requested', null)).rejects.toThrow(/snapshots_shutdown_once/);
    const other = await insertReservation(db.pool);
    await expect(
      db.pool.query(
        `insert into snapshots (reservation_id, volume_id, user_id, state, requested_at) values ($1, 'vol-2', 'u', 'pending', $2)`,
        [other.reservation_id, FIXTURE_NOW],
      ),
    ).rejects.toThrow(/snapshots_pending_has_id/);
  });

  it('keeps the decision log append-only', async () => {
    const { rows } = await db.pool.query<{ id: string }>(
      `insert into decision_log (decided_at, function, entity_kind, entity_id, action, reason, outcome) values ($1, 'expire', 'reservation', 'r', 'expire', 'deadline passed', 'applied') returning id`,
      [FIXTURE_NOW],
    );
    await rejects(`update decision_log set reason = 'rewritten' where id = $1`, [rows[0]!.id]);
    await rejects(`delete from decision_log where id = $1`, [rows[0]!.id]);
  });

  it('sends an outbox event once per destination and keeps runs consistent', async () => {
    const eventId = randomUUID();
    const insert = () =>
      db.pool.query(
        `insert into event_outbox (event_id, destination, type, source, data, created_at, available_at) values ($1, 'cleanup-pod', 't', 's', '{}', $2, $2)`,
        [eventId, FIXTURE_NOW],
      );
    await insert();
    await expect(insert()).rejects.toThrow(/event_outbox_event_destination_unique/);
    await rejects(
      `insert into function_runs (id, function, trigger, started_at, finished_at, outcome) values ($1, 'warn', 'schedule', $2, $2, 'running')`,
      [randomUUID(), FIXTURE_NOW],
    );
  });
});

import { describe, expect, it } from 'vitest';
import { claimLabs, endingLabs, finishLabs, recordUnknownAttempts } from '../../shared/db/queries/labs.js';
import { useTestDatabase } from '../support/database.js';
import { insertLab } from '../support/fixtures.js';

const db = useTestDatabase();
const now = new Date('2026-06-01T12:00:00Z');
const ago = (minutes: number) => new Date(now.getTime() - minutes * 60_000);
const ending = () => insertLab(db.pool, { status: 'ending', ending_since: ago(60), status_changed_at: ago(60) });

describe('labs for the watchdog', () => {
  it('selects by ending_since, not by updated_at (B-6), oldest first', async () => {
    await db.pool.query('delete from labs');
    const old = await insertLab(db.pool, {
      status: 'ending',
      status_changed_at: ago(90),
      ending_since: ago(90),
      updated_at: ago(1),
    });
    const mid = await insertLab(db.pool, {
      status: 'ending',
      status_changed_at: ago(40),
      ending_since: ago(40),
      updated_at: ago(600),
    });
    await insertLab(db.pool, {
      status: 'ending',
      status_changed_at: ago(10),
      ending_since: ago(10),
      updated_at: ago(600),
    });
    await insertLab(db.pool, { status: 'ready', status_changed_at: ago(600) });
    expect((await endingLabs(db.pool, { olderThan: ago(30), limit: 20 })).map((lab) => lab.id)).toEqual([
      old.id,
      mid.id,
    ]);
    expect((await endingLabs(db.pool, { labId: mid.id, olderThan: ago(30), limit: 20 })).map((lab) => lab.id)).toEqual([
      mid.id,
    ]);
  });

  it('claims with a committed lease that a second watchdog cannot take until it expires', async () => {
    const lab = await insertLab(db.pool, { status: 'ending', ending_since: ago(60), status_changed_at: ago(60) });
    expect(await claimLabs(db.pool, [lab.id], 'run-a', now, 300)).toEqual([lab.id]);
    expect(await claimLabs(db.pool, [lab.id], 'run-b', new Date(now.getTime() + 60_000), 300)).toEqual([]);
    expect(await claimLabs(db.pool, [lab.id], 'run-b', new Date(now.getTime() + 301_000), 300)).toEqual([lab.id]);
  });

  it('lets the lease holder take its own lease again (a retried batch), and extends it', async () => {
    const lab = await insertLab(db.pool, { status: 'ending', ending_since: ago(60), status_changed_at: ago(60) });
    expect(await claimLabs(db.pool, [lab.id], 'run-a', now, 300)).toEqual([lab.id]);
    expect(await claimLabs(db.pool, [lab.id], 'run-a', new Date(now.getTime() + 60_000), 300)).toEqual([lab.id]);
    const { rows } = await db.pool.query('select claimed_by, claim_expires_at from labs where id = $1', [lab.id]);
    expect(rows[0]).toEqual({ claimed_by: 'run-a', claim_expires_at: new Date(now.getTime() + 360_000) });
  });

  it('finishes only as the lease holder and only from ENDING, releasing the noVNC port (B-2, B-5)', async () => {
    const lab = await insertLab(db.pool, {
      status: 'ending',
      ending_since: ago(60),
      status_changed_at: ago(60),
      novnc_host_port: 6090,
    });
    await db.pool.query(`insert into port_reservations (lab_id, port, reserved_at) values ($1, 6090, $2)`, [
      lab.id,
      ago(120),
    ]);
    await claimLabs(db.pool, [lab.id], 'run-a', now, 300);
    expect(await finishLabs(db.pool, 'run-b', now, [{ id: lab.id, status: 'finished' }])).toEqual([]);
    const finished = await finishLabs(db.pool, 'run-a', now, [
      { id: lab.id, status: 'finished', evidenceExpiresAt: new Date(now.getTime() + 86_400_000) },
    ]);
    expect(finished.map((row) => row.id)).toEqual([lab.id]);
    const { rows } = await db.pool.query(
      'select status, finished_at, evidence_expires_at, novnc_host_port, claimed_by from labs where id = $1',
      [lab.id],
    );
    expect(rows[0]).toEqual({
      status: 'finished',
      finished_at: now,
      evidence_expires_at: new Date('2026-06-02T12:00:00Z'),
      novnc_host_port: null,
      claimed_by: null,
    });
    const ports = await db.pool.query('select released_at from port_reservations where lab_id = $1', [lab.id]);
    expect(ports.rows).toEqual([{ released_at: now }]);
    expect(await finishLabs(db.pool, 'run-a', now, [{ id: lab.id, status: 'failed' }])).toEqual([]);
  });

  it('does not overwrite a lab the normal teardown finished meanwhile', async () => {
    const lab = await insertLab(db.pool, { status: 'ending', ending_since: ago(60), status_changed_at: ago(60) });
    await claimLabs(db.pool, [lab.id], 'run-a', now, 300);
    await db.pool.query(`update labs set status = 'finished' where id = $1`, [lab.id]);
    expect(await finishLabs(db.pool, 'run-a', now, [{ id: lab.id, status: 'failed' }])).toEqual([]);
  });

  it('writes many final states in one statement, each its own compare-and-set', async () => {
    const [held, failed, lost, left] = [await ending(), await ending(), await ending(), await ending()];
    await claimLabs(db.pool, [held.id, failed.id, lost.id, left.id], 'run-a', now, 300);
    await db.pool.query(`update labs set claimed_by = 'run-b' where id = $1`, [lost.id]);
    await db.pool.query(`update labs set status = 'ready' where id = $1`, [left.id]);
    const written = await finishLabs(db.pool, 'run-a', now, [
      { id: held.id, status: 'finished', evidenceExpiresAt: new Date(now.getTime() + 86_400_000) },
      { id: failed.id, status: 'failed' },
      { id: lost.id, status: 'finished' },
      { id: left.id, status: 'failed' },
    ]);
    expect(new Set(written.map((row) => row.id))).toEqual(new Set([held.id, failed.id]));
    const { rows } = await db.pool.query<{ id: string; status: string; evidence_expires_at: Date | null }>(
      'select id, status, evidence_expires_at from labs where id = any($1::uuid[])',
      [[held.id, failed.id, lost.id, left.id]],
    );
    const byId = new Map(rows.map((row) => [row.id, row]));
    expect(byId.get(held.id)).toMatchObject({
      status: 'finished',
      evidence_expires_at: new Date('2026-06-02T12:00:00Z'),
    });
    expect(byId.get(failed.id)).toMatchObject({ status: 'failed', evidence_expires_at: null });
    expect(byId.get(lost.id)!.status).toBe('ending');
    expect(byId.get(left.id)!.status).toBe('ready');
  });

  it('counts many unknown attempts in one statement, giving each lease back; a lost lease is not counted', async () => {
    const [once, twice, lost] = [await ending(), await ending(), await ending()];
    await db.pool.query(`update labs set watchdog_unknown_attempts = 1 where id = $1`, [twice.id]);
    await claimLabs(db.pool, [once.id, twice.id, lost.id], 'run-a', now, 300);
    await db.pool.query(`update labs set claimed_by = 'run-b' where id = $1`, [lost.id]);
    const attempts = await recordUnknownAttempts(db.pool, 'run-a', now, [
      { id: once.id, error: 'listing failed' },
      { id: twice.id, error: 'delete failed' },
      { id: lost.id, error: 'listing failed' },
    ]);
    expect(attempts).toEqual(
      new Map([
        [once.id, 1],
        [twice.id, 2],
      ]),
    );
    const { rows } = await db.pool.query(
      'select status, claimed_by, watchdog_last_error, watchdog_attempted_at from labs where id = $1',
      [twice.id],
    );
    expect(rows[0]).toEqual({
      status: 'ending',
      claimed_by: null,
      watchdog_last_error: 'delete failed',
      watchdog_attempted_at: now,
    });
  });
});

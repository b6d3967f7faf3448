import { describe, expect, it } from 'vitest';
import { claimLabs, endingLabs, finishLab } from '../../shared/db/queries/labs.js';
import { useTestDatabase } from '../support/database.js';
import { insertLab } from '../support/fixtures.js';

const db = useTestDatabase();
const now = new Date('2026-06-01T12:00:00Z');
const ago = (minutes: number) => new Date(now.getTime() - minutes * 60_000);

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
    expect(await finishLab(db.pool, { id: lab.id, owner: 'run-b', status: 'finished', now })).toBeUndefined();
    const finished = await finishLab(db.pool, {
      id: lab.id,
      owner: 'run-a',
      status: 'finished',
      now,
      evidenceExpiresAt: new Date(now.getTime() + 86_400_000),
    });
    expect(finished?.id).toBe(lab.id);
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
    expect(await finishLab(db.pool, { id: lab.id, owner: 'run-a', status: 'failed', now })).toBeUndefined();
  });

  it('does not overwrite a lab the normal teardown finished meanwhile', async () => {
    const lab = await insertLab(db.pool, { status: 'ending', ending_since: ago(60), status_changed_at: ago(60) });
    await claimLabs(db.pool, [lab.id], 'run-a', now, 300);
    await db.pool.query(`update labs set status = 'finished' where id = $1`, [lab.id]);
    expect(await finishLab(db.pool, { id: lab.id, owner: 'run-a', status: 'failed', now })).toBeUndefined();
  });
});

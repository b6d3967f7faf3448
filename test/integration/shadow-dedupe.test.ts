/*
 * Shadow mode at fleet scale: a shadow run decides again, every run, what it decided before, and
 * records only what changed (appendDecisions), in one statement however many decisions. The shadow
 * report still finds a decision made before its window and standing in it, with its first record as
 * the time we would have acted, and leaves out the rows settled before the window.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildShadowReport } from '../../local/cli-shadow.js';
import type { Decision } from '../../shared/db/queries/decisions.js';
import { appendDecisions, SHADOW_RECORD_AGAIN_HOURS } from '../../shared/db/queries/decisions.js';
import type { Db } from '../../shared/db/pool.js';
import { finishRun, startRun } from '../../shared/db/queries/runs.js';
import { useTestDatabase } from '../support/database.js';
import { insertReservation } from '../support/fixtures.js';

const db = useTestDatabase();
const t0 = new Date('2026-06-01T12:00:00Z');
const at = (minutes: number) => new Date(t0.getTime() + minutes * 60_000);
const q = async (sql: string, params: unknown[] = []) => (await db.pool.query(sql, params)).rows;

function shadow(entityId: string, action: string, reason: string, inputs: Record<string, unknown> = {}): Decision {
  return { fn: 'expire', entityKind: 'reservation', entityId, action, reason, inputs, outcome: 'shadow' };
}

const recorded = (entityId: string) =>
  q(`select action, reason, decided_at from decision_log where entity_id = $1 order by decided_at, id`, [entityId]);

describe('shadow decisions: recorded when new or changed', () => {
  it('records a decision once while it stands, again when it changes, and after its record has grown old', async () => {
    const id = randomUUID();
    const expireIt = shadow(id, 'expire', 'Reservation expired', {
      expiresAt: at(-10).toISOString(),
      destructive: true,
    });
    expect(await appendDecisions(db.pool, [expireIt], t0)).toBe(1);
    expect(await appendDecisions(db.pool, [expireIt], at(1))).toBe(0);
    expect(await appendDecisions(db.pool, [expireIt], at(2))).toBe(0);
    // Another action, then the first again: each is a change from the latest record.
    expect(await appendDecisions(db.pool, [{ ...expireIt, action: 'expire-pod-gone' }], at(3))).toBe(1);
    expect(await appendDecisions(db.pool, [expireIt], at(4))).toBe(1);
    // A new deadline (an extension) is a new decision.
    expect(
      await appendDecisions(
        db.pool,
        [shadow(id, 'expire', 'Reservation expired', { expiresAt: at(50).toISOString() })],
        at(60),
      ),
    ).toBe(1);
    const standing = shadow(id, 'expire', 'Reservation expired', { expiresAt: at(50).toISOString() });
    const hours = SHADOW_RECORD_AGAIN_HOURS * 60;
    expect(await appendDecisions(db.pool, [standing], at(60 + hours - 1))).toBe(0);
    expect(await appendDecisions(db.pool, [standing], at(60 + hours + 1))).toBe(1);
    expect((await recorded(id)).map((row) => [row.action, row.decided_at])).toEqual([
      ['expire', t0],
      ['expire-pod-gone', at(3)],
      ['expire', at(4)],
      ['expire', at(60)],
      ['expire', at(60 + hours + 1)],
    ]);
  });

  it('reads a decision that changed only with the clock (minutes left, an age in the reason) as the same one', async () => {
    const id = randomUUID();
    const warnAt = (level: number, minutesLeft: number): Decision => ({
      ...shadow(
        id,
        'warn',
        `${level}-minute level crossed: ${minutesLeft} minute(s) left before ${at(30).toISOString()}`,
        {
          levelMinutes: level,
          minutesLeft,
          expiresAt: at(30).toISOString(),
        },
      ),
      fn: 'warn',
    });
    expect(await appendDecisions(db.pool, [warnAt(30, 29)], t0)).toBe(1);
    expect(await appendDecisions(db.pool, [warnAt(30, 24)], at(5))).toBe(0);
    expect(await appendDecisions(db.pool, [warnAt(15, 14)], at(16))).toBe(1);

    const lab = randomUUID();
    const watchdog = (reason: string): Decision => ({
      fn: 'ending-watchdog',
      entityKind: 'lab',
      entityId: lab,
      action: 'force',
      reason,
      inputs: { endingSince: at(-60).toISOString(), namespace: 'labs', destructive: true },
      outcome: 'shadow',
    });
    expect(await appendDecisions(db.pool, [watchdog('in ENDING for 60.0 minutes')], t0)).toBe(1);
    expect(await appendDecisions(db.pool, [watchdog('in ENDING for 75.0 minutes')], at(15))).toBe(0);
    expect(await appendDecisions(db.pool, [watchdog('chosen by id')], at(16))).toBe(1);
  });

  it("compares an entity's decisions as a set: two kills of one reservation are not recorded again every run", async () => {
    const id = randomUUID();
    const kill = (ordinal: number): Decision => ({
      ...shadow(id, 'record-kill', `container gpu-dev was OOM-killed (its termination #${ordinal})`, {
        podUid: 'uid-1',
        container: 'gpu-dev',
        ordinal,
      }),
      fn: 'oom-scan',
    });
    expect(await appendDecisions(db.pool, [kill(1), kill(2)], t0)).toBe(2);
    expect(await appendDecisions(db.pool, [kill(1), kill(2)], at(5))).toBe(0);
    expect(await appendDecisions(db.pool, [kill(2), kill(1)], at(10))).toBe(0);
    // A third kill: the entity's whole set is recorded, so the next run finds all three in its latest record.
    expect(await appendDecisions(db.pool, [kill(1), kill(2), kill(3)], at(15))).toBe(3);
    expect(await appendDecisions(db.pool, [kill(1), kill(2), kill(3)], at(20))).toBe(0);
  });

  it('is scoped to the function, and records every other outcome as before', async () => {
    const id = randomUUID();
    const decision = shadow(id, 'tear-down', 'the reservation ended', { step: 'delete_resources', destructive: true });
    expect(await appendDecisions(db.pool, [{ ...decision, fn: 'cleanup-pod' }], t0)).toBe(1);
    expect(await appendDecisions(db.pool, [{ ...decision, fn: 'snapshot-sync' }], at(1))).toBe(1);
    const applied: Decision = { ...decision, fn: 'cleanup-pod', outcome: 'applied' };
    expect(await appendDecisions(db.pool, [applied, applied], at(2))).toBe(2);
    expect(await appendDecisions(db.pool, [applied], at(3))).toBe(1);
  });

  it('writes a batch in one statement however many decisions it holds', async () => {
    const batch = Array.from({ length: 500 }, () => shadow(randomUUID(), 'expire', 'Reservation expired'));
    const statements: string[] = [];
    const counting: Db = {
      query: ((sql: string, params: unknown[]) => {
        statements.push(sql);
        return db.pool.query(sql, params);
      }) as Db['query'],
    } as Db;
    expect(await appendDecisions(counting, batch, t0)).toBe(500);
    expect(await appendDecisions(counting, batch, at(1))).toBe(0);
    expect(statements).toHaveLength(2);
  });
});

describe('shadow report over decisions recorded once', () => {
  it('judges a decision standing from before the window by its first record, and leaves out rows settled before it', async () => {
    await q(`delete from reservations`);
    const since = at(24 * 60);
    const minutes = (n: number) => new Date(since.getTime() + n * 60_000);
    const reservation = async (status = 'active') =>
      (await insertReservation(db.pool, { status, status_changed_at: minutes(-600), expires_at: minutes(-400) }))
        .reservation_id;
    const expireDecision = (id: string) =>
      shadow(id, 'expire', 'Reservation expired', { expiresAt: minutes(-400).toISOString(), destructive: true });
    const theyEnd = (id: string, when: Date) =>
      q(`update reservations set status = 'expired', status_changed_at = $2 where reservation_id = $1`, [id, when]);

    const standing = await reservation(); // still live: we would have ended it 5 hours before the window
    const settled = await reservation(); // they ended it before the window: nothing to say in this one
    const endedInWindow = await reservation(); // they ended it in the window, hours after our decision
    const tooOld = await reservation(); // our only record is older than a standing decision's can be
    for (const id of [standing, settled, endedInWindow])
      await appendDecisions(db.pool, [expireDecision(id)], minutes(-300));
    await appendDecisions(db.pool, [expireDecision(tooOld)], minutes(-(SHADOW_RECORD_AGAIN_HOURS + 2) * 60));
    await theyEnd(settled, minutes(-240));
    await theyEnd(endedInWindow, minutes(60));
    await theyEnd(tooOld, minutes(30));
    // The window's shadow runs decided the same things again and recorded nothing new.
    const runId = randomUUID();
    await startRun(db.pool, { id: runId, fn: 'expire', trigger: 'schedule', dryRun: false, startedAt: minutes(1) });
    await finishRun(db.pool, runId, {
      outcome: 'succeeded',
      counts: { shadow: 3, shadow_recorded: 0 },
      finishedAt: minutes(1),
    });

    const [report] = await buildShadowReport(db.pool, {
      fn: 'expire',
      since,
      until: minutes(120),
      toleranceSeconds: 900,
      watchdogOlderThanMinutes: 30,
    });
    expect(report).toMatchObject({ compared: 2, agreed: 0, pending: 0 });
    expect(report!.disagreements.map((d) => [d.kind, d.entity.id, d.ours?.firstDecidedAt ?? null])).toEqual([
      ['we-would-act', standing, minutes(-300).toISOString()],
      ['they-acted', tooOld, null],
      ['they-acted-later', endedInWindow, minutes(-300).toISOString()],
    ]);
  });
});

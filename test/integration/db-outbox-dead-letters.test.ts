/*
 * What an operator sees of dead-lettered events (`devenv-lifecycle runs`) and how they give them
 * a fresh set of attempts (`devenv-lifecycle requeue-events`).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { enqueueEvents, leaseDueEvents, markDead, outboxBacklog } from '../../shared/db/queries/outbox.js';
import type { DeadReason } from '../../shared/db/queries/outbox.js';
import { Invalid } from '../../shared/errors.js';
import { formatDeadLetters, parseRequeueArgs, requeueDeadEvents } from '../../local/cli-outbox.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';

const db = useTestDatabase();
const now = new Date('2026-06-01T12:00:00Z');
const eventId = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

async function deadEvent(n: number, subject: string, reason: DeadReason, error: string): Promise<string> {
  await enqueueEvents(
    db.pool,
    [
      {
        eventId: eventId(n),
        destination: 'cleanup-pod',
        type: 'dev.devenv.lifecycle.reservation.expired',
        source: '/devenv-lifecycle/expire',
        subject,
        data: {},
      },
    ],
    now,
  );
  const [row] = await leaseDueEvents(db.pool, {
    owner: 'test',
    now,
    limit: 1,
    leaseSeconds: 30,
    eventIds: [eventId(n)],
  });
  expect(await markDead(db.pool, row!.id, 'test', reason, error, now)).toBe(true);
  return row!.id;
}

beforeEach(async () => {
  await db.pool.query('delete from event_outbox');
});

describe('dead letters for the operator', () => {
  it('prints nothing below the runs when no event is dead', async () => {
    await enqueueEvents(db.pool, [{ eventId: eventId(9), destination: 'sink', type: 't', source: 's', data: {} }], now);
    expect(await formatDeadLetters(db.pool)).toBe('');
  });

  it('lists each dead event on one line, with an id holding a newline quoted, and says how to requeue', async () => {
    await deadEvent(
      1,
      'r-1\nsecond line',
      'rejected',
      'event refused by http://gw/async-function/cleanup-pod with HTTP 400\nmore',
    );
    await deadEvent(2, 'r-2', 'exhausted', 'HTTP 503');
    const text = await formatDeadLetters(db.pool);
    const lines = text.trim().split('\n');
    expect(lines[0]).toMatch(/^DEAD-LETTERED EVENTS: never retried until requeued \(devenv-lifecycle requeue-events/);
    expect(lines[1]).toMatch(
      /^OUTBOX ID\s+DEAD SINCE \(UTC\)\s+REASON\s+ATTEMPTS\s+TYPE\s+DESTINATION\s+SUBJECT\s+ERROR$/,
    );
    expect(lines).toHaveLength(4);
    expect(text).toContain('"r-1\\nsecond line"');
    expect(text).toMatch(/rejected\s+1\s+reservation\.expired\s+cleanup-pod/);
    expect(text).toMatch(/exhausted/);
  });

  it('requeues the chosen events only, with a fresh set of attempts, due now', async () => {
    const first = await deadEvent(1, 'r-1', 'rejected', 'HTTP 400');
    await deadEvent(2, 'r-2', 'rejected', 'HTTP 400');
    const later = new Date(now.getTime() + 3_600_000);
    expect(await requeueDeadEvents(db.pool, parseRequeueArgs(['--id', first]), later)).toBe(1);
    expect(await outboxBacklog(db.pool)).toMatchObject({ undelivered: 1, dead: 1 });
    const [due] = await leaseDueEvents(db.pool, { owner: 'again', now: later, limit: 10, leaseSeconds: 30 });
    expect(due).toMatchObject({ id: first, attempts: 1 });
    expect(await requeueDeadEvents(db.pool, parseRequeueArgs(['--all']), later)).toBe(1);
    expect(await outboxBacklog(db.pool)).toMatchObject({ dead: 0 });
  });

  it.each([[[]], [['--all', '--id', '1']], [['--id', 'one']], [['--event-id', 'not-a-uuid']], [['--everything']]])(
    'refuses %j as bad input, requeueing nothing',
    (args) => {
      expect(() => parseRequeueArgs(args)).toThrow(Invalid);
    },
  );
});

describe('the commands', () => {
  const cli = async (...args: string[]) => {
    const { code, stdout } = await runCli(args, {
      env: { DATABASE_URL: db.url, KUBE_API_SERVER: 'http://127.0.0.1:1' },
    });
    return { code, stdout };
  };

  it('runs lists the dead events and requeue-events gives them back to delivery', async () => {
    await deadEvent(1, 'r-1', 'rejected', 'HTTP 400');
    const runs = await cli('runs');
    expect(runs.code).toBe(0);
    expect(runs.stdout).toMatch(/DEAD-LETTERED EVENTS/);
    expect(runs.stdout).toMatch(/rejected\s+1\s+reservation\.expired/);
    expect(await cli('requeue-events', '--all')).toEqual({ code: 0, stdout: 'requeued 1 dead-lettered event(s)\n' });
    expect(await outboxBacklog(db.pool)).toMatchObject({ undelivered: 1, dead: 0 });
    expect((await cli('requeue-events')).code).toBe(2);
  }, 120_000);
});

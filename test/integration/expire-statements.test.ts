/*
 * expire at fleet scale (issue 18): a run that ends 1,000 due reservations with event delivery on
 * executes O(batches) SQL statements, not O(rows) — each batch of transitions and their decisions
 * is one statement, their outbox rows one more (born leased to the run), one statement then leases
 * older due events and reads back which of its own rows were committed, and the delivered events
 * are marked in one UPDATE.
 * Counted exactly, at the pg client: the run's statements are named one by one (its bookkeeping is
 * one statement to open the run and one to close it), the same work twice gives the same
 * statements, and two more batches add exactly their own.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { expire } from '../../functions/expire/handler.js';
import { BATCH_SIZE } from '../../functions/expire/execute.js';
import { useFunctionHarness } from '../support/function-harness.js';

const sink = http.createServer((req, res) => req.resume().on('end', () => res.writeHead(202).end()));
let sinkUrl = '';
beforeAll(async () => {
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/`;
});
afterAll(() => new Promise<void>((resolve) => sink.close(() => resolve())));

// Event delivery on, as deployed; a pod check of 1 keeps the rotation's share constant.
const h = useFunctionHarness(() => ({
  EVENT_DELIVERY: 'knative',
  K_SINK: sinkUrl,
  POD_CHECK_BATCH: '1',
  MAX_ITEMS: '10000',
}));

const texts: string[] = [];
const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
const original = proto.query;
beforeAll(() => {
  proto.query = function (this: unknown, ...args: unknown[]) {
    const first = args[0];
    texts.push(typeof first === 'string' ? first : String((first as { text?: string })?.text ?? ''));
    return original.apply(this, args);
  };
});
afterAll(() => {
  proto.query = original;
});

beforeEach(async () => {
  await h.deps.pool.query('delete from event_outbox; delete from reservations');
});

async function due(count: number) {
  const expiresAt = new Date(h.clock.now().getTime() - 3_600_000);
  await h.deps.pool.query(
    `insert into reservations (reservation_id, user_id, status, created_at, launched_at, expires_at, status_changed_at, pod_name, namespace)
     select 'due-' || lpad(i::text, 5, '0'), 'dev@example.com', 'active', $1::timestamptz - interval '3 hours', $1::timestamptz - interval '3 hours',
            $1::timestamptz + make_interval(secs => i), $1::timestamptz - interval '3 hours', 'gpu-dev-due-' || i, 'gpu-dev'
     from generate_series(1, $2::int) as i`,
    [expiresAt, count],
  );
}

async function statementsOfRun(count: number) {
  await due(count);
  texts.length = 0;
  const result = await h.schedule(expire);
  const run = [...texts];
  expect(result.summary).toMatchObject({ expired: count, events_delivered: count });
  return { texts: run, runId: result.runId! };
}

const marking = (texts: string[]) => texts.filter((text) => /update event_outbox set delivered_at/i.test(text)).length;

const KINDS: [string, RegExp][] = [
  ['open run (lock, reaping, its row, the clock)', /pg_try_advisory_lock[\s\S]*insert into function_runs/],
  ['close run (its row, the lock)', /update function_runs set outcome = \$2[\s\S]*pg_advisory_unlock/],
  ['read overdue', /where status = 'active' and expires_at < /],
  ['read waiting', /status in \('queued', 'pending'\)|status = 'preparing'/],
  ['read without deadline', /expires_at is null order by/],
  ['read pod rotation', /from pod_observations o join reservations/],
  ['breaker reads', /with recent as materialized/],
  ['begin', /^begin$/],
  ['commit', /^commit$/],
  ['pod observations', /insert into pod_observations/],
  [
    'compare-and-set with decisions and events',
    /update reservations r set[\s\S]*insert into decision_log[\s\S]*insert into event_outbox/,
  ],
  ['outbox rows', /insert into event_outbox/],
  // Leases older due events; the run's own rows are held since their insert and only read back.
  ['outbox lease', /update event_outbox o\s+set lease_owner/],
  ['outbox marking with backlog', /update event_outbox set delivered_at[\s\S]*count/],
];

/** Each statement named by what it does, in a stable order (concurrent reads finish in any order). */
const named = (texts: string[]) =>
  texts
    .map((text) => KINDS.find(([, pattern]) => pattern.test(text.trim()))?.[0] ?? `unexpected: ${text.slice(0, 80)}`)
    .sort();

describe('expire: statements per run are O(batches)', () => {
  it('1,000 due with delivery on: the same statements for the same work, a fixed number per batch, one UPDATE marks every delivered event', async () => {
    const first = (await statementsOfRun(1000)).texts;
    await h.deps.pool.query('delete from event_outbox; delete from reservations');
    const { texts: again, runId } = await statementsOfRun(1000);
    // Deterministic: the same work, the same statements.
    expect(again.length).toBe(first.length);
    expect(marking(again)).toBe(1);
    expect(
      Number((await h.deps.pool.query(`select count(*) from decision_log where run_id = $1`, [runId])).rows[0].count),
    ).toBe(1000);
    expect(
      Number(
        (await h.deps.pool.query('select count(*) from event_outbox where delivered_at is not null')).rows[0].count,
      ),
    ).toBe(1000);
    // Sent as held since their insert: one attempt each, none leased a second time.
    expect(
      (await h.deps.pool.query('select attempts, count(*)::int as rows from event_outbox group by attempts')).rows,
    ).toEqual([{ attempts: 1, rows: 1000 }]);
    // The whole run: open, four reads, the breaker's reads, one batch (its transitions, decisions and
    // events in one statement), one lease, one marking, close.
    expect(named(again)).toEqual(
      [
        'open run (lock, reaping, its row, the clock)',
        'read overdue',
        'read waiting',
        'read without deadline',
        'read pod rotation',
        'breaker reads',
        'begin',
        'pod observations',
        'compare-and-set with decisions and events',
        'commit',
        'outbox lease',
        'outbox marking with backlog',
        'close run (its row, the lock)',
      ].sort(),
    );
    await h.deps.pool.query('delete from event_outbox; delete from reservations');
    const large = (await statementsOfRun(1000 + 2 * BATCH_SIZE)).texts;
    // Per extra batch: begin, the compare-and-set UPDATE with its decisions and events (one statement), commit.
    expect(large.length - again.length).toBe(2 * 3);
    expect(marking(large)).toBe(1);
  }, 180_000);

  it('a quiet run (nothing due, nothing to deliver): open, the four reads, one lease that finds nothing, close', async () => {
    texts.length = 0;
    const result = await h.schedule(expire);
    expect(result).toMatchObject({ outcome: 'succeeded', summary: { expired: 0, events_delivered: 0 } });
    expect(named(texts)).toEqual(
      [
        'open run (lock, reaping, its row, the clock)',
        'read overdue',
        'read waiting',
        'read without deadline',
        'read pod rotation',
        'outbox lease',
        'close run (its row, the lock)',
      ].sort(),
    );
  });
});

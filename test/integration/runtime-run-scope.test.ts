import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { recentRuns, startRun } from '../../shared/db/queries/runs.js';
import { withTransaction } from '../../shared/db/transaction.js';
import { EventTypes } from '../../shared/events/types.js';
import { createLogger } from '../../shared/log.js';
import type { Invocation, BaseOptions } from '../../shared/runtime/invocation.js';
import { createMetrics } from '../../shared/runtime/metrics.js';
import { ABANDON_MARGIN_SECONDS, runScoped } from '../../shared/runtime/run-scope.js';
import type { RunScope, RunServices } from '../../shared/runtime/run-scope.js';
import { useTestDatabase } from '../support/database.js';
import { reservationExpiredEvent } from '../support/events.js';

const db = useTestDatabase();
const clock = new ManualClock('2026-06-01T12:00:00Z');
const deliveries: string[] = [];
const consumer = http.createServer((req, res) => {
  deliveries.push(`${req.url} ${String(req.headers['ce-id'])}`);
  req.resume();
  // A subject the consumer refuses for good, to see dead letters counted.
  res.writeHead(req.headers['ce-subject'] === 'r-refused' ? 400 : 202).end();
});
let services: RunServices;

beforeAll(async () => {
  await new Promise<void>((resolve) => consumer.listen(0, '127.0.0.1', resolve));
  const gatewayUrl = `http://127.0.0.1:${(consumer.address() as AddressInfo).port}`;
  services = {
    pool: db.pool,
    clock,
    log: createLogger({ level: 'silent', hashSalt: 's', destination: new Writable({ write: (_c, _e, d) => d() }) }),
    metrics: createMetrics(),
    publish: { mode: 'openfaas', gatewayUrl },
    paused: false,
    defaultMaxItems: 50,
    budgetSeconds: 50,
    deliveryTimeoutMs: 2000,
    concurrency: 4,
  };
});
afterAll(() => new Promise<void>((resolve) => consumer.close(() => resolve())));

const schedule = (options: Partial<BaseOptions> = {}): Invocation<BaseOptions> => ({
  kind: 'schedule',
  source: 'cron-connector',
  callId: 'c-1',
  options: { dryRun: false, ...options },
});
const manual = (options: Partial<BaseOptions> = {}): Invocation<BaseOptions> => ({
  kind: 'manual',
  callId: 'm-1',
  options: { dryRun: false, ...options },
});

const expiredEvent = (reservationId: string) => reservationExpiredEvent(reservationId, clock.now());

describe('run scope', () => {
  it('records a run with its counts and delivers the events it staged after the work', async () => {
    const event = expiredEvent('r-1');
    const result = await runScoped(services, 'expire', schedule(), async (scope) => {
      await withTransaction(db.pool, (client) => scope.stage(client, [event]));
      expect(deliveries).toEqual([]); // not before the work is done
      return { summary: { expired: 1 }, failures: [] };
    });
    expect(result).toMatchObject({ outcome: 'succeeded', summary: { expired: 1, events_delivered: 1 } });
    expect(deliveries).toEqual([`/async-function/cleanup-pod ${event.id}`]);
    const [run] = await recentRuns(db.pool, { fn: 'expire', limit: 1 });
    expect(run).toMatchObject({
      id: result.runId,
      outcome: 'succeeded',
      trigger: 'schedule',
      counts: { expired: 1, events_delivered: 1 },
    });
  });

  it('answers skipped to a second scheduled tick while the first runs', async () => {
    let release = () => undefined as void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = runScoped(services, 'warn', schedule(), async () => {
      await gate;
      return { summary: {}, failures: [] };
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const second = await runScoped(services, 'warn', schedule(), async () => ({ summary: {}, failures: [] }));
    expect(second).toEqual({ outcome: 'skipped', summary: {}, message: 'skipped: already running' });
    // A dry run takes no lock, so it runs even now.
    const dry = await runScoped(services, 'warn', schedule({ dryRun: true }), async (scope) => ({
      summary: { would: scope.dryRun ? 1 : 0 },
      failures: [],
    }));
    expect(dry).toMatchObject({ outcome: 'succeeded', summary: { would: 1 } });
    release();
    expect((await first).outcome).toBe('succeeded');
  });

  it('reports failed when any action failed, with the errors', async () => {
    const result = await runScoped(services, 'cleanup-pod', manual(), async () => ({
      summary: { cleaned: 1, failed: 1 },
      failures: ['delete pod p: HTTP 503'],
    }));
    expect(result).toMatchObject({ outcome: 'failed', message: 'delete pod p: HTTP 503' });
    const [run] = await recentRuns(db.pool, { fn: 'cleanup-pod', limit: 1 });
    expect(run).toMatchObject({ outcome: 'failed', error: 'delete pod p: HTTP 503' });
  });

  it('closes the run as failed and rethrows when the work throws', async () => {
    await expect(
      runScoped(services, 'oom-scan', manual(), async () => Promise.reject(new Error('database went away'))),
    ).rejects.toThrow('database went away');
    const [run] = await recentRuns(db.pool, { fn: 'oom-scan', limit: 1 });
    expect(run).toMatchObject({ outcome: 'failed', error: 'database went away' });
    expect(run!.finished_at).not.toBeNull();
  });

  it('stages nothing in a dry run, and the pause switch turns every run into a dry run', async () => {
    deliveries.length = 0;
    const paused = { ...services, paused: true };
    const result = await runScoped(paused, 'expire', schedule(), async (scope) => {
      expect(scope.dryRun).toBe(true);
      await withTransaction(db.pool, (client) => scope.stage(client, [expiredEvent('r-paused')]));
      return { summary: {}, failures: [] };
    });
    expect(result.message).toMatch(/paused/);
    expect(deliveries).toEqual([]);
    const { rowCount } = await db.pool.query(`select 1 from event_outbox where subject = 'r-paused'`);
    expect(rowCount).toBe(0);
  });

  it('uses maxItems from the options, else the default, and sets the budget deadline from the clock', async () => {
    await runScoped(services, 'warn', manual({ maxItems: 3 }), async (scope) => {
      expect(scope.maxItems).toBe(3);
      expect(scope.deadline.toISOString()).toBe('2026-06-01T12:00:50.000Z');
      return { summary: {}, failures: [] };
    });
    await runScoped(services, 'warn', manual(), async (scope) => {
      expect(scope.maxItems).toBe(50);
      return { summary: {}, failures: [] };
    });
  });
});

describe('run scope bookkeeping', () => {
  it('closes the runs a killed process left running past budget plus margin as abandoned, and leaves a fresh one running', async () => {
    const budgetAndMargin = services.budgetSeconds + ABANDON_MARGIN_SECONDS;
    const startedAgo = (seconds: number) => new Date(clock.now().getTime() - seconds * 1000);
    const stale = randomUUID();
    const fresh = randomUUID();
    const otherFunction = randomUUID();
    await startRun(db.pool, {
      id: stale,
      fn: 'ending-watchdog',
      trigger: 'schedule',
      dryRun: false,
      startedAt: startedAgo(budgetAndMargin + 1),
    });
    await startRun(db.pool, {
      id: fresh,
      fn: 'ending-watchdog',
      trigger: 'manual',
      dryRun: false,
      startedAt: startedAgo(budgetAndMargin - 1),
    });
    await startRun(db.pool, {
      id: otherFunction,
      fn: 'oom-scan',
      trigger: 'schedule',
      dryRun: false,
      startedAt: startedAgo(budgetAndMargin + 1),
    });

    const result = await runScoped(services, 'ending-watchdog', manual(), async () => ({ summary: {}, failures: [] }));
    expect(result).toMatchObject({ outcome: 'succeeded', summary: { runs_abandoned: 1 } });
    const runs = new Map((await recentRuns(db.pool, { limit: 100 })).map((run) => [run.id, run]));
    expect(runs.get(stale)).toMatchObject({ outcome: 'abandoned', error: expect.stringMatching(/abandoned/) });
    expect(runs.get(fresh)).toMatchObject({ outcome: 'running', finished_at: null });
    expect(runs.get(otherFunction)).toMatchObject({ outcome: 'running' });
  });

  it('counts an event refused for good as dead-lettered, in the summary and the metrics, and the run still succeeds', async () => {
    const metrics = createMetrics();
    const refused = expiredEvent('r-refused');
    const accepted = expiredEvent('r-accepted');
    const result = await runScoped({ ...services, metrics }, 'expire', manual(), async (scope) => {
      await withTransaction(db.pool, (client) => scope.stage(client, [refused, accepted]));
      return { summary: {}, failures: [] };
    });
    expect(result).toMatchObject({ outcome: 'succeeded', summary: { events_delivered: 1, events_dead_lettered: 1 } });
    expect((await metrics.eventsDeadLettered.get()).values).toEqual([
      expect.objectContaining({ labels: { reason: 'rejected' }, value: 1 }),
    ]);
    expect((await metrics.outboxDeadLetters.get()).values[0]?.value).toBe(1);
  });
});

describe('run scope for events', () => {
  const eventInvocation = (id: string): Invocation<BaseOptions> => ({
    kind: 'event',
    callId: id,
    options: { dryRun: false },
    event: {
      id,
      source: '/devenv-lifecycle/expire',
      type: EventTypes.reservationExpired,
      specversion: '1.0',
      data: {},
    } as never,
  });

  /** A claim in its own committed statement, confirmed as the kernel confirms a committed claim (Run.commit). */
  const claimCommitted = async (scope: RunScope) => {
    const claimed = await scope.claimEvent(db.pool);
    if (claimed) scope.claimCommitted();
    return claimed;
  };

  it('answers accepted and claims each CloudEvent once per consumer', async () => {
    const claims: boolean[] = [];
    for (let delivery = 0; delivery < 2; delivery++) {
      const result = await runScoped(services, 'cleanup-pod', eventInvocation('ev-1'), async (scope) => {
        claims.push(await withTransaction(db.pool, (client) => scope.claimEvent(client)));
        scope.claimCommitted();
        return { summary: {}, failures: [] };
      });
      expect(result.outcome).toBe('accepted');
    }
    expect(claims).toEqual([true, false]);
  });

  it('gives the claim back when the run fails, so the retry by the platform does the work', async () => {
    const claims: boolean[] = [];
    const failing = await runScoped(services, 'cleanup-pod', eventInvocation('ev-2'), async (scope) => {
      claims.push(await claimCommitted(scope));
      return { summary: {}, failures: ['pod delete: 503'] };
    });
    expect(failing.outcome).toBe('failed');
    await expect(
      runScoped(services, 'cleanup-pod', eventInvocation('ev-2'), async (scope) => {
        claims.push(await claimCommitted(scope));
        throw new Error('database went away');
      }),
    ).rejects.toThrow('database went away');
    const retried = await runScoped(services, 'cleanup-pod', eventInvocation('ev-2'), async (scope) => {
      claims.push(await claimCommitted(scope));
      return { summary: {}, failures: [] };
    });
    expect(retried.outcome).toBe('accepted');
    expect(claims).toEqual([true, true, true]);
    const duplicate = await runScoped(services, 'cleanup-pod', eventInvocation('ev-2'), async (scope) => {
      claims.push(await claimCommitted(scope));
      return { summary: {}, failures: [] };
    });
    expect(duplicate.outcome).toBe('accepted');
    expect(claims).toEqual([true, true, true, false]);
  });

  it('a run whose claim rolled back with its transaction never releases the claim a duplicate delivery made meanwhile, at the same instant', async () => {
    const inboxRows = async () =>
      (await db.pool.query(`select 1 from event_inbox where consumer = 'cleanup-pod' and event_id = 'ev-5'`)).rowCount;
    const failing = await runScoped(services, 'cleanup-pod', eventInvocation('ev-5'), async (scope) => {
      await withTransaction(db.pool, async (client) => {
        expect(await scope.claimEvent(client)).toBe(true);
        throw new Error('the effect failed');
      }).catch(() => undefined);
      // The clock does not move: the duplicate's record carries the very instant of the rolled-back claim.
      const duplicate = await runScoped(services, 'cleanup-pod', eventInvocation('ev-5'), async (other) => {
        expect(await claimCommitted(other)).toBe(true);
        return { summary: {}, failures: [] };
      });
      expect(duplicate.outcome).toBe('accepted');
      return { summary: {}, failures: ['the effect failed'] };
    });
    expect(failing.outcome).toBe('failed');
    expect(await inboxRows()).toBe(1);
  });

  it('a duplicate delivery that fails leaves the claim of the run that did the work in place', async () => {
    const claims: boolean[] = [];
    const claimAnd = (failures: string[]) =>
      runScoped(services, 'cleanup-pod', eventInvocation('ev-3'), async (scope) => {
        claims.push(await claimCommitted(scope));
        return { summary: {}, failures };
      });
    expect((await claimAnd([])).outcome).toBe('accepted');
    expect((await claimAnd(['pod delete: 503'])).outcome).toBe('failed');
    await claimAnd([]);
    expect(claims).toEqual([true, false, false]);
  });
});

describe('trace context', () => {
  it('carries the traceparent of the triggering request into the events a run publishes', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const event = expiredEvent('r-traced');
    await runScoped(
      services,
      'expire',
      { kind: 'manual', callId: 't-1', options: { dryRun: false }, traceparent },
      async (scope) => {
        await withTransaction(db.pool, (client) => scope.stage(client, [event]));
        return { summary: {}, failures: [] };
      },
    );
    const { rows } = await db.pool.query('select traceparent from event_outbox where event_id = $1', [event.id]);
    expect(rows).toEqual([{ traceparent }]);
  });
});

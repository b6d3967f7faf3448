/*
 * The run kernel (shared/runtime/define-function.ts, execute.ts, run.ts) with a real database: the
 * only place that knows dry run, maxItems, the budget and counters; every effect commits with its
 * decisions, its events and — for an event run — the inbox record of the CloudEvent.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { Deps } from '../../shared/deps.js';
import { buildEvent, sourceFor } from '../../shared/events/build.js';
import { EventTypes } from '../../shared/events/types.js';
import { defineFunction } from '../../shared/runtime/define-function.js';
import { baseOptionsSchema } from '../../shared/runtime/invocation.js';
import type { BaseOptions } from '../../shared/runtime/invocation.js';
import { useFunctionHarness } from '../support/function-harness.js';
import {
  bumpActions,
  bumpLabs,
  bumpWithUpkeep,
  countRows,
  insertEndingLabs,
  isPoisoned,
  labAttempts,
  labDecisions,
  labEvent,
  loadEndingLabs,
} from '../support/kernel-functions.js';
import type { Bump } from '../support/kernel-functions.js';

// Events are staged in the outbox; delivery to a closed port fails fast and leaves them there.
const h = useFunctionHarness({ EVENT_DELIVERY: 'knative', K_SINK: 'http://127.0.0.1:9/' });

const behaviour = { failInsideCommit: false, advanceClockMs: 0, inboxAfterFailedCommit: -1, batches: 0 };
const inboxRows = () => countRows(h.deps.pool, 'event_inbox');
const decide = (labs: { id: string }[]) => ({ actions: bumpActions(labs) });
// With the plan's upkeep: the last lab gets +100 once, committed with the first batch.
const decideWithUpkeep = (labs: { id: string }[]) => ({ ...decide(labs), upkeep: labs.slice(-1).map((lab) => lab.id) });

// A function of the product's shape whose effect is countable: each action adds one to a lab's attempt count.
const bumper = defineFunction<BaseOptions, Deps, { id: string }[], Bump>({
  name: 'ending-watchdog',
  optionsSchema: baseOptionsSchema,
  counters: ['bumped'],
  load: loadEndingLabs,
  decide: (labs: { id: string }[]) => ({
    actions: bumpActions(labs, { explodePoisoned: true, inputs: true }),
    counts: { seen: labs.length },
  }),
  executors: {
    bump: async (run, action) => {
      h.clock.advanceSeconds(behaviour.advanceClockMs / 1000);
      const committing = run.commit(async (db) => {
        await bumpLabs(db, [action.labId]);
        if (behaviour.failInsideCommit) throw new Error('killed between the effect and its records');
        const event = buildEvent(
          EventTypes.labFinished,
          {
            labId: action.labId,
            endingSince: null,
            finishedAt: run.now().toISOString(),
            action: 'force',
            evidenceExpiresAt: run.now().toISOString(),
          },
          { source: sourceFor('ending-watchdog'), subject: action.labId, time: run.now() },
        );
        return {
          value: undefined,
          decisions: [{ entityKind: 'lab', entityId: action.labId, action: 'bump', reason: 'test' }],
          events: [event],
        };
      });
      // What a process killed right after the failed commit would leave behind: nothing.
      await committing.catch(async (err: unknown) => {
        behaviour.inboxAfterFailedCommit = await inboxRows();
        throw err;
      });
      return { outcome: 'applied', counters: ['bumped'] };
    },
    explode: async () => {
      throw new Error('boom');
    },
  },
});

// The same effect, set-based: one statement per batch; a batch holding a poisoned lab throws.
const batcher = defineFunction<BaseOptions, Deps, { id: string }[], Bump>({
  name: 'expire',
  optionsSchema: baseOptionsSchema,
  load: loadEndingLabs,
  decide,
  batch: {
    size: 2,
    execute: async (run, actions) => {
      behaviour.batches += 1;
      if (actions.some((action) => isPoisoned(action.labId))) throw new Error('batch failed');
      await run.commit(async (db) => {
        await bumpLabs(
          db,
          actions.map((action) => action.labId),
        );
        return { value: undefined };
      });
      return actions.map(() => ({ outcome: 'applied' as const, counters: ['bumped'] }));
    },
  },
});

// Set-based with the plan's upkeep; a batch holding a poisoned lab fails inside its commit, after the upkeep's write.
const keeper = defineFunction<BaseOptions, Deps, { id: string }[], Bump, string>({
  name: 'expire',
  optionsSchema: baseOptionsSchema,
  load: loadEndingLabs,
  decide: decideWithUpkeep,
  batch: {
    size: 4,
    execute: async (run, actions, _deps, upkeep) => {
      behaviour.batches += 1;
      await run.commit(async (db) => {
        await bumpWithUpkeep(db, actions, upkeep);
        if (actions.some((action) => isPoisoned(action.labId))) throw new Error('poisoned row');
        return {
          value: undefined,
          decisions: actions.map((action) => ({
            entityKind: 'lab' as const,
            entityId: action.labId,
            action: 'bump',
            reason: 'test',
          })),
        };
      });
      return actions.map(() => ({ outcome: 'applied' as const, counters: ['bumped'] }));
    },
  },
});

// Four commits in flight at once in one event run (fanOut 4), each holding its transaction open a moment.
const fanned = defineFunction<BaseOptions, Deps, { id: string }[], Bump>({
  name: 'ending-watchdog',
  optionsSchema: baseOptionsSchema,
  load: loadEndingLabs,
  decide,
  fanOut: () => 4,
  executors: {
    bump: async (run, action) => {
      await run.commit(async (db) => {
        await db.query('select pg_sleep(0.05)');
        await bumpLabs(db, [action.labId]);
        return { value: undefined };
      });
      return { outcome: 'applied', counters: ['bumped'] };
    },
    explode: async () => {
      throw new Error('boom');
    },
  },
});

// The keeper's shape, but its load takes the whole budget: every batch is past the deadline.
const latecomer = defineFunction<BaseOptions, Deps, { id: string }[], Bump, string>({
  name: 'expire',
  optionsSchema: baseOptionsSchema,
  load: async (context) => {
    h.clock.advanceSeconds(3600);
    return loadEndingLabs(context);
  },
  decide: decideWithUpkeep,
  batch: {
    size: 4,
    execute: async (run, actions, _deps, upkeep) => {
      await run.commit(async (db) => {
        await bumpWithUpkeep(db, actions, upkeep);
        return { value: undefined };
      });
      return actions.map(() => ({ outcome: 'applied' as const, counters: ['bumped'] }));
    },
  },
});

const ports = () => labAttempts(h.deps.pool);
const decisions = () => labDecisions(h.deps.pool);
const outbox = () => countRows(h.deps.pool, 'event_outbox');
const labs = (count: number, firstExplodes = false) => insertEndingLabs(h.deps.pool, count, firstExplodes);

beforeEach(async () => {
  behaviour.failInsideCommit = false;
  behaviour.advanceClockMs = 0;
  behaviour.batches = 0;
  await h.deps.pool.query('delete from labs; delete from event_outbox; delete from event_inbox');
});

describe('the run kernel', () => {
  it('commits each effect with its decision (run id and function filled in) and its event', async () => {
    await labs(2);
    const result = await h.schedule(bumper);
    expect(result).toMatchObject({ outcome: 'succeeded', summary: { seen: 2, bumped: 2 } });
    expect(await ports()).toEqual([1, 1]);
    expect(await decisions()).toEqual([
      expect.objectContaining({
        action: 'bump',
        outcome: 'applied',
        function: 'ending-watchdog',
        run_id: result.runId,
      }),
      expect.objectContaining({
        action: 'bump',
        outcome: 'applied',
        function: 'ending-watchdog',
        run_id: result.runId,
      }),
    ]);
    expect(await outbox()).toBe(2);
  });

  it('a dry run lists the actions and calls no executor', async () => {
    await labs(2);
    const result = await h.manual(bumper, { dryRun: true });
    expect(result.items).toHaveLength(2);
    expect(result.items![0]).toMatchObject({ action: 'bump', reason: 'test' });
    expect(result.summary.bumped).toBe(0);
    expect(await ports()).toEqual([0, 0]);
    expect(await decisions()).toEqual([]);
  });

  it('defers what is past maxItems and what would start after the time budget', async () => {
    await labs(3);
    expect((await h.manual(bumper, { maxItems: 1 })).summary).toMatchObject({ bumped: 1, deferred: 2 });
    behaviour.advanceClockMs = h.deps.config.run.budgetSeconds * 1000;
    const late = await h.schedule(bumper);
    expect(late.summary).toMatchObject({ bumped: 1, deferred: 2 });
    expect(late.message).toContain('2 action(s) left for the next run');
  });

  it('one failing action fails the run but not the others, and is kept in the decision log', async () => {
    await labs(3, true);
    const result = await h.schedule(bumper);
    expect(result.outcome).toBe('failed');
    expect(result.summary).toMatchObject({ bumped: 2, actions_failed: 1 });
    expect(result.message).toContain('boom');
    expect(await ports()).toEqual([0, 1, 1]);
    expect((await decisions()).filter((d) => d.outcome === 'failed')).toEqual([
      expect.objectContaining({ action: 'explode' }),
    ]);
  });

  it('an event run records its CloudEvent with the effect: a run killed inside the commit leaves neither, the retry does the work once, a duplicate nothing', async () => {
    await labs(1);
    const event = labEvent();
    behaviour.failInsideCommit = true;
    expect((await h.event(bumper, event)).outcome).toBe('failed');
    expect(await ports()).toEqual([0]);
    expect(behaviour.inboxAfterFailedCommit).toBe(0);
    expect(await inboxRows()).toBe(0);
    behaviour.failInsideCommit = false;
    expect(await h.event(bumper, event)).toMatchObject({ outcome: 'accepted', summary: { bumped: 1 } });
    expect(await h.event(bumper, event)).toMatchObject({
      outcome: 'accepted',
      summary: { bumped: 0, duplicate_events: 1 },
    });
    expect(await ports()).toEqual([1]);
    expect(await inboxRows()).toBe(1);
  });

  it('an event run with commits in flight together records the event once and does every action (none is taken for a duplicate); a redelivery does nothing', async () => {
    await labs(4);
    const event = labEvent();
    expect(await h.event(fanned, event)).toMatchObject({ outcome: 'accepted', summary: { bumped: 4 } });
    expect((await h.event(fanned, event)).summary).toMatchObject({ duplicate_events: 1 });
    expect(await ports()).toEqual([1, 1, 1, 1]);
    expect(await inboxRows()).toBe(1);
  });

  it('an event run past its deadline defers its work but still commits its upkeep with the inbox record, so the event is not lost; a redelivery is a duplicate', async () => {
    await labs(2);
    const event = labEvent();
    expect((await h.event(latecomer, event)).summary).toMatchObject({ deferred: 2 });
    expect(await ports()).toEqual([0, 100]);
    expect(await inboxRows()).toBe(1);
    expect((await h.event(latecomer, event)).summary).toMatchObject({ duplicate_events: 1 });
    expect(await ports()).toEqual([0, 100]);
  });

  it('set-based execution: batches in order, maxItems cuts the last one short, a failing batch fails its own actions only', async () => {
    await labs(5);
    expect((await h.manual(batcher, { maxItems: 3 })).summary).toMatchObject({ bumped: 3, deferred: 2 });
    expect(behaviour.batches).toBe(2);
    expect((await ports()).filter((n) => n === 1)).toHaveLength(3);
    await h.deps.pool.query('delete from labs');
    await labs(3, true);
    const result = await h.schedule(batcher);
    // The failed batch [0…, a…] is split: the poisoned action fails alone, its neighbour is applied.
    expect(result).toMatchObject({ outcome: 'failed', summary: { bumped: 2, actions_failed: 1 } });
    expect(await ports()).toEqual([0, 1, 1]);
  });

  it('a batch with one poisoned row settles the others: the batch is halved down to the bad row, which alone fails and is logged', async () => {
    const made = await labs(8, true);
    const result = await h.schedule(keeper);
    expect(result).toMatchObject({ outcome: 'failed', summary: { bumped: 7, actions_failed: 1 } });
    expect(result.message).toContain('poisoned row');
    // ids sort the poisoned lab first; the upkeep (+100, the last lab) is written once, with the first part that commits.
    expect(await ports()).toEqual([0, 1, 1, 1, 1, 1, 1, 101]);
    const logged = await decisions();
    expect(logged.filter((d) => d.outcome === 'applied')).toHaveLength(7);
    expect(logged.filter((d) => d.outcome === 'failed')).toEqual([expect.objectContaining({ action: 'bump' })]);
    // Batches of 4: [0 a a a]+upkeep fails → [0 a]+upkeep fails → [0]+upkeep fails → upkeep alone ok, [0] fails;
    // then [a], [a a] and the second batch [a a a a] commit: 8 calls, 4 of them for the poisoned row.
    expect(behaviour.batches).toBe(8);
    expect(made).toHaveLength(8);
  });

  it("the plan's upkeep commits alone when nothing is to be done, and is NOT written by a dry run", async () => {
    await labs(2);
    await h.manual(keeper, { dryRun: true });
    expect(await ports()).toEqual([0, 0]);
    expect(behaviour.batches).toBe(0);
    expect((await h.manual(keeper, { maxItems: 1 })).summary).toMatchObject({ bumped: 1, deferred: 1 });
    expect(await ports()).toEqual([1, 100]);
  });

  it('a duplicate delivery stops a batched run: counted once, no batch after the first, nothing done twice', async () => {
    await labs(5);
    const event = labEvent();
    expect(await h.event(batcher, event)).toMatchObject({ outcome: 'accepted', summary: { bumped: 5 } });
    expect(await inboxRows()).toBe(1);
    expect(behaviour.batches).toBe(3);
    behaviour.batches = 0;
    const again = await h.event(batcher, event);
    expect(again).toMatchObject({ outcome: 'accepted', summary: { duplicate_events: 1 } });
    expect(again.summary.actions_failed).toBeUndefined();
    expect(again.summary.bumped).toBeUndefined();
    expect(behaviour.batches).toBe(1);
    expect(await ports()).toEqual([1, 1, 1, 1, 1]);
  });
});

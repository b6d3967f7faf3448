/*
 * The kernel's paged load (shared/runtime/paged.ts), which oom-scan's scan runs on, with a real
 * database and a toy listing: each page is decided and executed before the next is read; paging
 * stops at the page budget, at maxItems and at its stop point, and says why; the checkpoint follows
 * only a page whose actions all ran, never after a failure or in a dry run; the steps after the
 * pages run once.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { Deps } from '../../shared/deps.js';
import { baseOptionsSchema } from '../../shared/runtime/invocation.js';
import type { BaseOptions } from '../../shared/runtime/invocation.js';
import { definePagedFunction, defineStep } from '../../shared/runtime/paged.js';
import type { Action } from '../../shared/runtime/run.js';
import { useFunctionHarness } from '../support/function-harness.js';

const h = useFunctionHarness();

interface Item extends Action {
  kind: 'touch' | 'explode';
}
interface Page {
  at: number;
  items: string[];
}

const listing = { pages: [] as string[][], perRun: 10, pageSeconds: 0 };
let log: string[] = [];

const item = (name: string): Item => ({
  kind: name.startsWith('x') ? 'explode' : 'touch',
  entity: { kind: 'lab', id: name },
  reason: 'test',
});
const read = (at: number): Page | undefined => {
  if (at >= listing.pages.length) return undefined;
  log.push(`read ${at}`);
  h.clock.advanceSeconds(listing.pageSeconds);
  return { at, items: listing.pages[at]! };
};

const paged = definePagedFunction<BaseOptions, Deps, Page, Item>({
  name: 'oom-scan',
  optionsSchema: baseOptionsSchema,
  counters: ['touched'],
  load: async () => read(0),
  next: async (_input, page) => read(page.at + 1),
  decide: (page) => ({ actions: page.items.map(item), counts: { pages: 1 } }),
  executors: {
    touch: async (_run, action) => (
      log.push(`touch ${action.entity.id}`),
      { outcome: 'applied', counters: ['touched'] }
    ),
    explode: async () => {
      throw new Error('boom');
    },
  },
  pagesPerRun: () => listing.perRun,
  stopReadingAt: 0.5,
  checkpoint: async (_run, page) => (log.push(`checkpoint ${page.at}`), { counters: ['checkpoints'] }),
  then: () => [
    defineStep({
      load: async () => 'after',
      decide: () => ({ actions: [], counts: { after_steps: 1 } }),
      executors: {},
    }),
  ],
});

beforeEach(() => {
  log = [];
  Object.assign(listing, { pages: [['a', 'b'], ['c'], ['d', 'e']], perRun: 10, pageSeconds: 0 });
});

describe('the paged kernel', () => {
  it('decides and executes each page before it reads the next, checkpointing each, then runs the steps after the pages', async () => {
    const result = await h.schedule(paged);
    expect(log).toEqual([
      'read 0',
      'touch a',
      'touch b',
      'checkpoint 0',
      'read 1',
      'touch c',
      'checkpoint 1',
      'read 2',
      'touch d',
      'touch e',
      'checkpoint 2',
    ]);
    expect(result.summary).toMatchObject({ pages: 3, touched: 5, checkpoints: 3, after_steps: 1 });
    expect(result.summary.stopped_at_page_budget).toBe(0);
  });

  it('stops at the page budget, and at maxItems without checkpointing the page it cut', async () => {
    listing.perRun = 2;
    expect((await h.schedule(paged)).summary).toMatchObject({ pages: 2, checkpoints: 2, stopped_at_page_budget: 1 });
    log = [];
    expect((await h.manual(paged, { maxItems: 2 })).summary).toMatchObject({
      touched: 2,
      deferred: 1,
      stopped_at_max_items: 1,
      checkpoints: 1,
    });
    expect(log).toEqual(['read 0', 'touch a', 'touch b', 'checkpoint 0', 'read 1']);
  });

  it('reads no page past its stop point', async () => {
    listing.pageSeconds = h.deps.config.run.budgetSeconds * 0.3;
    const result = await h.schedule(paged);
    expect(result.summary).toMatchObject({ pages: 2, touched: 3, stopped_at_deadline: 1 });
    expect(log.filter((line) => line.startsWith('read'))).toEqual(['read 0', 'read 1']);
  });

  it('after a failed action it reads on but checkpoints nothing more; a dry run checkpoints nothing', async () => {
    listing.pages = [['a'], ['x'], ['c']];
    const failed = await h.schedule(paged);
    expect(failed.outcome).toBe('failed');
    expect(log).toEqual(['read 0', 'touch a', 'checkpoint 0', 'read 1', 'read 2', 'touch c']);
    log = [];
    const dry = await h.manual(paged, { dryRun: true });
    expect(dry.items).toHaveLength(3);
    expect(log.some((line) => line.startsWith('checkpoint') || line.startsWith('touch'))).toBe(false);
  });
});

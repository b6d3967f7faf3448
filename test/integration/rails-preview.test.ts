/*
 * Policy preview: load and decide with the current and with changed settings, on the live data, at
 * one instant; it lists what the changed policy would do that the current one does not, and writes
 * nothing (every table row-for-row the same; it never asks for the function's lock).
 */
import { describe, expect, it } from 'vitest';
import { endingWatchdog } from '../../functions/ending-watchdog/handler.js';
import { formatPreview, parsePreviewArgs } from '../../local/cli-preview.js';
import { baseOptionsSchema } from '../../shared/runtime/invocation.js';
import type { FunctionDefinition, BaseOptions } from '../../shared/runtime/invocation.js';
import { kernelFunction } from '../../shared/runtime/rails/preview.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertLab } from '../support/fixtures.js';
import { everyRow, previewOf, withPolicy } from '../support/preview.js';

const h = useFunctionHarness({ WATCHDOG_OLDER_THAN_MINUTES: '30' });
const NS = 'octolab-labs';
const ago = (minutes: number) => new Date(h.clock.now().getTime() - minutes * 60_000);

async function endingLab(minutes: number): Promise<string> {
  const lab = await insertLab(h.deps.pool, {
    status: 'ending',
    namespace: NS,
    status_changed_at: ago(minutes),
    ending_since: ago(minutes),
  });
  h.sim.kube.addPod({ name: `lab-${lab.id.slice(0, 8)}`, namespace: NS, labels: { 'lab-id': lab.id } });
  return lab.id;
}

const everything = () => everyRow(h.deps.pool);
const preview = previewOf(endingWatchdog, () => h.deps);
const olderThan = (minutes: number) => withPolicy(h.deps.config, { watchdogOlderThanMinutes: minutes });

describe('policy preview', () => {
  it('lists what the changed policy would do now that the current one does not, and writes nothing', async () => {
    const fresh = await endingLab(10);
    const middle = await endingLab(20);
    const old = await endingLab(40);
    const before = await everything();
    // Another session holds the function's single-flight lock: a scheduled run would skip, a preview does not care.
    const holder = await h.deps.pool.connect();
    await holder.query(`select pg_advisory_lock(7326002, hashtext('ending-watchdog'))`);
    try {
      expect((await h.schedule(endingWatchdog)).outcome).toBe('skipped');
      const result = await preview(olderThan(15));
      expect(result.added.map((a) => [a.kind, a.entity.id, a.destructive])).toEqual([['force', middle, true]]);
      expect(result.dropped).toEqual([]);
      expect(result.unchanged).toBe(1);
      expect(result.added[0]!.reason).toBe('in ENDING for 20.0 minutes');
      const text = formatPreview(result, { WATCHDOG_OLDER_THAN_MINUTES: '15' });
      expect(text).toContain(
        'with WATCHDOG_OLDER_THAN_MINUTES=15, compared with the current settings:\nwould force 1\n',
      );
      expect(text).toContain(`labId=${middle}`);
      expect(text).not.toContain(fresh);
      expect(text).not.toContain(old);
      expect(text).toContain('(1 action(s) the same either way)');
    } finally {
      await holder.query(`select pg_advisory_unlock(7326002, hashtext('ending-watchdog'))`);
      holder.release();
    }
    // The skipped scheduled run above wrote nothing either (a skip is not recorded), so the whole database is as it was.
    expect(await everything()).toEqual(before);
    expect(h.sim.kube.list('pods', NS)).toHaveLength(3);
  });

  it('lists what a stricter policy would no longer do', async () => {
    const result = await preview(olderThan(120));
    expect(result.added).toEqual([]);
    expect(result.dropped.map((a) => a.kind)).toEqual(['force']);
    expect(formatPreview(result, { WATCHDOG_OLDER_THAN_MINUTES: '120' })).toContain('would no longer force 1');
  });

  it('a function not on the run kernel answers a clear error', () => {
    // A bare handler (no load, no decide), as a function off the kernel is.
    const bare: FunctionDefinition<BaseOptions, never> = {
      name: 'warn',
      optionsSchema: baseOptionsSchema,
      consumes: [],
      handle: async () => ({ outcome: 'succeeded', summary: {} }),
    };
    expect(() => kernelFunction(bare)).toThrow(/warn is not on the run kernel yet .* cannot be previewed/);
  });

  it('parses --set and refuses unknown settings', () => {
    expect(parsePreviewArgs(['expire', '--set', 'GRACE_PERIOD_SECONDS=0', '--set', 'LAUNCH_GRACE_MINUTES=5'])).toEqual({
      fn: 'expire',
      settings: { GRACE_PERIOD_SECONDS: '0', LAUNCH_GRACE_MINUTES: '5' },
      json: false,
    });
    expect(() => parsePreviewArgs(['expire', '--set', 'GRACE=0'])).toThrow(/unknown setting GRACE/);
    expect(() => parsePreviewArgs(['expire'])).toThrow(/at least one --set/);
  });
});

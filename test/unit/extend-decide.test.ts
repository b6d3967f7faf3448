import { describe, expect, it } from 'vitest';
import { decide, needsCapacity } from '../../functions/extend/decide.js';
import type { ActionRequest, Capacity, Subject } from '../../functions/extend/decide.js';

const now = new Date('2026-06-01T12:00:00Z');
const at = (minutes: number) => new Date(now.getTime() + minutes * 60_000);
const subject: Subject = {
  reservationId: 'r-1',
  status: 'active',
  expiresAt: at(20),
  startedAt: at(-60),
  gpuType: 'h100',
  extensions: 0,
};
const policy = { maxExtendMinutes: 240, maxExtensions: 3, maxLifetimeHours: 8, capacityRule: true };
const extend = (minutes: number, extra: Partial<ActionRequest> = {}): ActionRequest => ({
  kind: 'extend',
  minutes,
  issuedForDeadline: at(20),
  by: 'link',
  ...extra,
});
const run = (
  request: ActionRequest,
  overrides: Partial<Subject> = {},
  capacity: Capacity = { waiting: 0, oldestWaitingSince: null, nextFreeAt: null },
) => decide({ request, subject: { ...subject, ...overrides }, capacity, policy, now });

describe('extend decide', () => {
  it('extends from the current deadline, never from now', () => {
    const decision = run(extend(60));
    expect(decision).toMatchObject({ verdict: 'extend', newExpiresAt: at(80), expectedExpiresAt: at(20) });
    expect(decision.reason).not.toBe('');
  });

  it.each([
    ['not-active', extend(60), { status: 'expired' }],
    ['no-deadline', extend(60), { expiresAt: null }],
    ['deadline-passed', extend(60), { expiresAt: at(-1) }],
    ['stale-link', extend(60, { issuedForDeadline: at(10) }), {}],
    ['max-per-extension', extend(241), {}],
    ['max-per-extension', extend(0), {}],
    ['max-extensions', extend(60), { extensions: 3 }],
    ['max-lifetime', extend(240), { startedAt: at(-7 * 60) }],
  ] as const)('refuses with %s', (rule, request, overrides) => {
    const decision = run(request, overrides as Partial<Subject>);
    expect(decision).toMatchObject({ verdict: 'refuse', rule });
    expect(decision.inputs).toMatchObject({ action: 'extend' });
  });

  it('refuses when the reservation is unknown', () => {
    expect(decide({ request: extend(60), subject: undefined, policy, now })).toMatchObject({
      verdict: 'refuse',
      rule: 'not-found',
    });
  });

  it('capacity: refuses while others wait, with when a GPU frees up before this deadline', () => {
    expect(run(extend(60), {}, { waiting: 2, oldestWaitingSince: at(-30), nextFreeAt: at(5) })).toMatchObject({
      verdict: 'refuse',
      rule: 'capacity',
      possibleAt: at(5),
    });
    expect(run(extend(60), {}, { waiting: 2, oldestWaitingSince: at(-30), nextFreeAt: at(50) })).not.toHaveProperty(
      'possibleAt',
    );
  });

  it('capacity is read only when the rule applies', () => {
    expect(needsCapacity(extend(60), subject, policy)).toBe(true);
    expect(needsCapacity(extend(60, { bypassCapacity: true }), subject, policy)).toBe(false);
    expect(needsCapacity(extend(60), { ...subject, gpuType: null }, policy)).toBe(false);
    expect(needsCapacity(extend(60), subject, { ...policy, capacityRule: false })).toBe(false);
    expect(needsCapacity({ kind: 'snooze', by: 'link' }, subject, policy)).toBe(false);
  });

  it('snooze and end-now act on the deadline they were issued for', () => {
    expect(run({ kind: 'snooze', issuedForDeadline: at(20), by: 'link' })).toMatchObject({
      verdict: 'snooze',
      expectedExpiresAt: at(20),
    });
    expect(run({ kind: 'end-now', issuedForDeadline: at(20), by: 'slack' })).toMatchObject({
      verdict: 'end',
      expectedExpiresAt: at(20),
    });
    expect(run({ kind: 'end-now', issuedForDeadline: at(25), by: 'slack' })).toMatchObject({
      verdict: 'refuse',
      rule: 'stale-link',
    });
  });

  it('an operator acts on the current deadline', () => {
    expect(run(extend(60, { issuedForDeadline: undefined, by: 'operator' }))).toMatchObject({
      verdict: 'extend',
      newExpiresAt: at(80),
    });
  });
});

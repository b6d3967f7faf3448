/*
 * The shadow report's judges beyond ends, table-driven without a database: when a teardown, a
 * warning or an OOM kill of ours counts as done by the origin too, too recent to tell, or a
 * disagreement; and the one line a function without an origin record gets.
 */
import { describe, expect, it } from 'vitest';
import type { OomDecisionRow, TeardownDecisionRow, WarnDecisionRow } from '../../shared/db/queries/shadow-grounds.js';
import { formatShadowReport } from '../../local/cli-shadow.js';
import {
  flaggedLevels,
  judgeOomKills,
  judgeTeardowns,
  judgeWarnings,
} from '../../shared/runtime/rails/shadow-grounds.js';
import { groundOf } from '../../shared/runtime/rails/shadow-report.js';

const T0 = new Date('2026-06-01T12:00:00Z');
const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);
const TOLERANCE = 900;
const decided = { reason: 'r', inputs: {}, first_decided_at: T0, last_decided_at: T0, decisions: 1 };

const teardown = (disk: Partial<TeardownDecisionRow>): TeardownDecisionRow => ({
  entity_kind: 'reservation',
  entity_id: 'res-1',
  action: 'tear-down',
  status: 'expired',
  status_changed_at: at(-1),
  disk_id: 'disk-1',
  disk_in_use: true,
  disk_holder: 'res-1',
  disk_last_used: null,
  ...decided,
  ...disk,
});

const verdictOf = (j: { agreed: number; pending: number; uncompared: number; disagreements: { kind: string }[] }) =>
  j.disagreements[0]?.kind ?? (j.agreed ? 'agreed' : j.pending ? 'pending' : j.uncompared ? 'uncompared' : 'none');

describe('judgeTeardowns', () => {
  it.each([
    ['still held, within the tolerance', {}, at(10), 'pending'],
    ['still held, past the tolerance', {}, at(16), 'we-would-act'],
    [
      'released within the tolerance',
      { disk_holder: null, disk_in_use: false, disk_last_used: at(14) },
      at(60),
      'agreed',
    ],
    [
      'released before we decided',
      { disk_holder: null, disk_in_use: false, disk_last_used: at(-30) },
      at(60),
      'agreed',
    ],
    [
      'released past the tolerance',
      { disk_holder: null, disk_in_use: false, disk_last_used: at(16) },
      at(60),
      'they-acted-later',
    ],
    ['taken by a newer reservation', { disk_holder: 'res-2' }, at(60), 'agreed'],
    ['no disk at all', { disk_id: null, disk_in_use: null, disk_holder: null }, at(60), 'uncompared'],
  ] as const)('%s', (_, disk, until, verdict) => {
    const judgement = judgeTeardowns([teardown(disk)], [], until, TOLERANCE);
    expect(verdictOf(judgement)).toBe(verdict);
    expect(judgement.compared + judgement.uncompared).toBe(1);
  });
});

const warning = (origin: Partial<WarnDecisionRow>): WarnDecisionRow => ({
  entity_id: 'res-1',
  deadline: at(20).toISOString(),
  levels: [30],
  status: 'active',
  expires_at: at(20),
  warnings_sent: {},
  last_warned_at: null,
  ...decided,
  ...origin,
});

describe('judgeWarnings', () => {
  const unix = (minutes: number) => at(minutes);
  it.each([
    ['nothing recorded, within the tolerance', {}, at(10), 'pending'],
    ['nothing recorded, past the tolerance (A-3)', {}, at(40), 'we-would-act'],
    ['a timed warning for this deadline', { last_warned_at: unix(2) }, at(40), 'agreed'],
    [
      'one level, past the tolerance',
      { last_warned_at: unix(16), warnings_sent: { '30min_warning_sent': true } },
      at(40),
      'they-acted-later',
    ],
    [
      'several levels: the last time is not the first warning',
      { last_warned_at: unix(16), warnings_sent: { '30min_warning_sent': true, '15min_warning_sent': true } },
      at(40),
      'agreed',
    ],
    ['a time from an earlier deadline', { last_warned_at: unix(-120) }, at(40), 'we-would-act'],
    ['flags on the current deadline, no time', { warnings_sent: { '30min_warning_sent': true } }, at(40), 'agreed'],
    [
      'flags, but the deadline has moved since (extended)',
      { warnings_sent: { '30min_warning_sent': true }, expires_at: at(200) },
      at(40),
      'we-would-act',
    ],
  ] as const)('%s', (_, origin, until, verdict) => {
    expect(verdictOf(judgeWarnings([warning(origin)], [], until, TOLERANCE, 30))).toBe(verdict);
  });

  it('reads only true <N>min_warning_sent flags, least urgent first', () => {
    expect(
      flaggedLevels({
        '5min_warning_sent': true,
        '30min_warning_sent': true,
        '15min_warning_sent': false,
        other: true,
      }),
    ).toEqual([30, 5]);
    expect(flaggedLevels(null)).toEqual([]);
  });
});

const kill = (origin: Partial<OomDecisionRow>): OomDecisionRow => ({
  entity_id: 'res-1',
  action: 'record-kill',
  kills: 1,
  latest_finished_at: T0,
  status: 'active',
  oom_count: 0,
  last_oom_at: null,
  oom_container: null,
  ...decided,
  ...origin,
});

describe('judgeOomKills', () => {
  it.each([
    ['not recorded, within the tolerance', {}, at(10), 'pending'],
    ['not recorded, past the tolerance', {}, at(16), 'we-would-act'],
    ['recorded at its finish time', { last_oom_at: T0, oom_count: 1 }, at(60), 'agreed'],
    ['a later kill recorded', { last_oom_at: at(5), oom_count: 2 }, at(60), 'agreed'],
    ['only an earlier kill recorded', { last_oom_at: at(-60), oom_count: 1 }, at(60), 'we-would-act'],
    [
      'no finish time: their own time near our decision',
      { latest_finished_at: null, last_oom_at: at(-5) },
      at(60),
      'agreed',
    ],
  ] as const)('%s', (_, origin, until, verdict) => {
    expect(verdictOf(judgeOomKills([kill(origin)], [], until, TOLERANCE))).toBe(verdict);
  });
});

describe('a function the origin leaves no record of', () => {
  it('gets one line saying so, not a count of disagreements', () => {
    const text = formatShadowReport([
      {
        fn: 'snapshot-sync',
        ground: groundOf('snapshot-sync').ground,
        since: at(-60).toISOString(),
        until: T0.toISOString(),
        observedFrom: at(-50).toISOString(),
        compared: 0,
        agreed: 0,
        pending: 0,
        uncompared: 7,
        disagreements: [],
      },
    ]);
    expect(text).toBe(
      `snapshot-sync: shadow runs from ${at(-50).toISOString()} to ${T0.toISOString()}: 7 shadow decision(s), none compared: the origin records no snapshot or volume deletion in the database (EC2 only); compared: none\n`,
    );
    expect(text).not.toMatch(/disagreement/);
  });
});

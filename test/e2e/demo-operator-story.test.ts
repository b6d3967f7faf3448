/*
 * The demo `npm start` seeds, as an operator reads it: the local stack with its demo fleet and
 * pod-watch, time moved by hand, every run ticked over the gateway as the cron-connector sends it
 * (the demo's start-up round of every function first). The demo reservation the seed names for
 * the whole story is warned, expires, is torn down (events through the outbox and the gateway) and
 * its disk snapshotted. After each step pod-watch's fleet gauges equal counts taken here straight
 * from the database; at the end `why` (the CLI as text and JSON, pod-watch's GET /why) tells that
 * story in order, with the user's id masked.
 */
import { describe, expect, it } from 'vitest';
import { DEMO_STORY_RESERVATION_ID, demoReservations } from '../../local/demo-plan.js';
import type { WhyAnswer } from '../../local/why.js';
import { LATENESS_BUCKETS } from '../../pod-watch/fleet-metrics.js';
import { ManualClock } from '../../shared/clock.js';
import { LIVE_STATUSES, TEARDOWN_STEPS, WAITING_STATUSES } from '../../shared/db/queries/fleet.js';
import { FUNCTION_NAMES } from '../../shared/runtime/invocation.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { eventually } from '../support/eventually.js';
import { useLocalStack } from '../support/local-stack.js';
import type { TickAnswer } from '../support/local-stack.js';

const db = useTestDatabase();
const clock = new ManualClock('2026-06-01T12:00:00Z');
/** The functions' defaults, set so the counts below use the same numbers as pod-watch and the functions. */
const POLICY = { graceSeconds: 120, preparingMinutes: 60, queueHours: 48, watchdogMinutes: 30 };
const local = useLocalStack(db, {
  clock,
  demo: true,
  podWatch: true,
  env: {
    GRACE_PERIOD_SECONDS: String(POLICY.graceSeconds),
    PREPARING_TIMEOUT_MINUTES: String(POLICY.preparingMinutes),
    QUEUE_TIMEOUT_HOURS: String(POLICY.queueHours),
    WATCHDOG_OLDER_THAN_MINUTES: String(POLICY.watchdogMinutes),
  },
});

const told = demoReservations.find((r) => r.id === DEMO_STORY_RESERVATION_ID)!;
const id = told.id;
const one = (sql: string, params: unknown[] = [id]) => local.one(sql, params);

/**
 * The demo's start-up round: every function once. The stack fires them together; here one after
 * the other, each once what the one before set off has finished, so every run sees a settled fleet.
 */
async function kickoff(): Promise<Record<string, TickAnswer>> {
  const answers: Record<string, TickAnswer> = {};
  for (const fn of local.stack.functions) {
    await quiet();
    answers[fn] = await local.tick(fn);
  }
  return answers;
}

const FLEET = 'devenv_lifecycle_fleet_';

/** Every fleet series pod-watch serves, by name (prefix dropped) and labels; the error counter aside. */
async function scrapeFleet(): Promise<Record<string, number>> {
  const text = await (await fetch(`${local.stack.podWatch!.health.url}/metrics`)).text();
  const series: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith(FLEET) || line.startsWith(`${FLEET}collect_errors`)) continue;
    const cut = line.lastIndexOf(' ');
    series[line.slice(FLEET.length, cut)] = Number(line.slice(cut + 1));
  }
  return series;
}

/** Seconds from the oldest `column` of the rows `from` selects to the clock's now ($1); 0 for none. */
const ageOf = (column: string, from: string) =>
  `select coalesce(extract(epoch from $1::timestamptz - min(${column})), 0) from ${from}`;

/** Each gauge with the query that counts the same thing from the tables, now as $1. */
function gaugeQueries(): [string, string][] {
  const queries: [string, string][] = [['up', 'select 1']];
  for (const status of LIVE_STATUSES)
    queries.push([`reservations{status="${status}"}`, `select count(*) from reservations where status = '${status}'`]);
  for (const status of WAITING_STATUSES) {
    const allowed = status === 'preparing' ? `${POLICY.preparingMinutes} minutes` : `${POLICY.queueHours} hours`;
    const labels = `{entity="reservation",status="${status}"}`;
    queries.push(
      [
        `stuck${labels}`,
        `select count(*) from reservations where status = '${status}' and status_changed_at < $1::timestamptz - interval '${allowed}'`,
      ],
      [`waiting_oldest_seconds${labels}`, ageOf('status_changed_at', `reservations where status = '${status}'`)],
    );
  }
  const overdue = `reservations where status = 'active' and expires_at < $1::timestamptz - interval '${POLICY.graceSeconds} seconds'`;
  const backlog = 'event_outbox where delivered_at is null and dead_at is null';
  queries.push(
    [
      'stuck{entity="lab",status="ending"}',
      `select count(*) from labs where status = 'ending' and ending_since < $1::timestamptz - interval '${POLICY.watchdogMinutes} minutes'`,
    ],
    ['waiting_oldest_seconds{entity="lab",status="ending"}', ageOf('ending_since', `labs where status = 'ending'`)],
    ['overdue_active', `select count(*) from ${overdue}`],
    ['overdue_oldest_seconds', ageOf('expires_at', overdue)],
    ...TEARDOWN_STEPS.map((step): [string, string] => [
      `teardowns_in_progress{step="${step}"}`,
      `select count(*) from cleanup_progress where step = '${step}'`,
    ]),
    ['teardown_oldest_seconds', ageOf('started_at', `cleanup_progress where step <> 'done'`)],
    ['snapshots_pending', `select count(*) from snapshots where state in ('requested', 'pending')`],
    ['snapshot_pending_oldest_seconds', ageOf('requested_at', `snapshots where state in ('requested', 'pending')`)],
    ['outbox_backlog', `select count(*) from ${backlog}`],
    ['outbox_oldest_seconds', ageOf('created_at', backlog)],
    ['outbox_dead_letters', 'select count(*) from event_outbox where dead_at is not null'],
  );
  for (const fn of FUNCTION_NAMES) {
    queries.push(
      [
        `last_success_timestamp_seconds{function="${fn}"}`,
        `select coalesce(extract(epoch from max(finished_at)), 0) from function_runs where function = '${fn}' and outcome = 'succeeded'`,
      ],
      [
        `halted_runs{function="${fn}"}`,
        `select count(*) from function_runs where function = '${fn}' and outcome = 'halted' and started_at > $1::timestamptz - interval '24 hours'`,
      ],
    );
  }
  return queries;
}

/**
 * The lateness histogram of every warning sent since pod-watch's first scrape (the ledger was empty
 * then): per level, how many were at most each bucket's seconds late, their sum and count.
 */
async function expectedLateness(): Promise<Record<string, number>> {
  const { rows } = await db.pool.query<{ level: number; lateness: number }>(
    `select level_minutes as level,
       greatest(0, extract(epoch from sent_at - (expires_at - make_interval(mins => level_minutes))))::float8 as lateness
     from warning_ledger where state = 'sent'`,
  );
  const series: Record<string, number> = {};
  const metric = 'warning_lateness_seconds';
  for (const level of new Set(rows.map((row) => row.level))) {
    const late = rows.filter((row) => row.level === level).map((row) => row.lateness);
    for (const le of [...LATENESS_BUCKETS, Infinity])
      series[`${metric}_bucket{le="${le === Infinity ? '+Inf' : le}",level="${level}"}`] = late.filter(
        (seconds) => seconds <= le,
      ).length;
    series[`${metric}_sum{level="${level}"}`] = late.reduce((sum, seconds) => sum + seconds, 0);
    series[`${metric}_count{level="${level}"}`] = late.length;
  }
  return series;
}

/** Every gauge counted in one statement, so all of them are read at one instant of the database. */
async function expectedFleet(): Promise<Record<string, number>> {
  const queries = gaugeQueries();
  const { rows } = await db.pool.query<{ values: number[] }>(
    `select array[${queries.map(([, sql]) => `(${sql})::float8`).join(', ')}] as values`,
    [clock.now()],
  );
  const series = Object.fromEntries(queries.map(([key], index) => [key, rows[0]!.values[index]!]));
  return { ...series, ...(await expectedLateness()) };
}

/** What a step set off has finished: pod-watch has delivered every pod change and no run is in progress. */
function quiet(): Promise<void> {
  return eventually(
    async () =>
      local.stack.podWatch!.source.depth() === 0 &&
      (await one('select count(*)::int n from function_runs where finished_at is null', []))?.n === 0,
    "pod-watch's deliveries and the runs to have finished",
  );
}

/**
 * The gauges equal the tables, once what the step set off has finished. The clock stands still, so
 * scrape and counts agree exactly; an event run still being recorded gets a few more reads. The
 * last pair read is the one compared, so a failure shows the difference.
 */
async function expectGaugesMatchDatabase(): Promise<Record<string, number>> {
  await quiet();
  let last: { scraped: Record<string, number>; counted: Record<string, number> } | undefined;
  const agree = async () => {
    last = { scraped: await scrapeFleet(), counted: await expectedFleet() };
    return JSON.stringify(sorted(last.scraped)) === JSON.stringify(sorted(last.counted));
  };
  await eventually(agree, 'the fleet gauges to equal the database').catch((err: unknown) => {
    if (last === undefined) throw err;
  });
  expect(last!.scraped).toEqual(last!.counted);
  return last!.scraped;
}

const sorted = (series: Record<string, number>) => Object.entries(series).sort(([a], [b]) => a.localeCompare(b));

describe('the demo, step by step, as an operator sees it', () => {
  it('names a reservation the demo warns and snapshots', () => {
    expect(told).toMatchObject({ status: 'active', pod: 'running', volumeId: expect.any(String) });
  });

  it("start: the seeded fleet, once pod-watch has handed the pods' changes to expire and oom-scan", async () => {
    await eventually(async () => local.stack.podWatch!.source.ready(), 'pod-watch to have listed the pods');
    const scraped = await expectGaugesMatchDatabase();
    expect(scraped['reservations{status="active"}']).toBeGreaterThan(0);
    expect(scraped['stuck{entity="lab",status="ending"}']).toBeGreaterThan(0);
  });

  it('start-up round: every function once; the story reservation is warned', async () => {
    const answers = await kickoff();
    for (const [fn, answer] of Object.entries(answers)) expect(answer.outcome, fn).toBe('succeeded');
    expect(answers.warn!.summary.warned).toBeGreaterThan(0);
    expect(
      await one(`select count(*)::int n from warning_ledger where reservation_id = $1 and state = 'sent'`),
    ).toEqual({ n: 1 });
    const scraped = await expectGaugesMatchDatabase();
    expect(Object.keys(scraped).some((key) => key.startsWith('warning_lateness_seconds_count'))).toBe(true);
  });

  it('expiry: past its deadline and the grace period, expire ends it and cleanup-pod deletes the pod', async () => {
    const { expires_at: deadline } = (await one('select expires_at from reservations where reservation_id = $1'))!;
    clock.set(new Date((deadline as Date).getTime() + (POLICY.graceSeconds + 60) * 1000));
    expect((await local.tick('warn')).outcome).toBe('succeeded');
    expect((await local.tick('expire')).summary.expired).toBeGreaterThan(0);
    expect(await one('select status from reservations where reservation_id = $1')).toEqual({ status: 'expired' });
    await eventually(
      async () => (await one('select step from cleanup_progress where reservation_id = $1'))?.step === 'await_gone',
      'cleanup-pod to have asked for the pod to be deleted',
    );
    await expectGaugesMatchDatabase();
  });

  it('teardown: the pod gone, cleanup-pod requests the shutdown snapshot and releases the disk', async () => {
    clock.advanceSeconds(31);
    local.sim.kube.tick();
    expect((await local.tick('cleanup-pod')).summary.cleaned).toBeGreaterThan(0);
    expect(await one('select step from cleanup_progress where reservation_id = $1')).toEqual({ step: 'done' });
    await eventually(
      async () => (await one('select state from snapshots where reservation_id = $1'))?.state === 'pending',
      'snapshot-sync to have created the snapshot',
    );
    await expectGaugesMatchDatabase();
  });

  it('snapshot: snapshot-sync sees it completed and deletes the volume', async () => {
    clock.advanceSeconds(61);
    expect((await local.tick('snapshot-sync')).summary.snapshots_completed).toBeGreaterThan(0);
    expect(await one('select state from snapshots where reservation_id = $1')).toEqual({ state: 'completed' });
    expect(local.sim.aws.volume(told.volumeId!)).toBeUndefined();
    await expectGaugesMatchDatabase();
  });

  describe('why', () => {
    const cli = (...args: string[]) =>
      runCli(['why', ...args], { env: { DATABASE_URL: db.url }, cwd: '/', timeoutMs: 60_000 });

    /** The story's lines, in order: each warning sent (from the ledger), the expiry, the teardown, the snapshot. */
    async function storyLines(): Promise<string[]> {
      const { rows } = await db.pool.query<{ level: number }>(
        `select level_minutes as level from warning_ledger where reservation_id = $1 and state = 'sent' order by sent_at`,
        [id],
      );
      return [
        ...rows.map((row) => `warn: warned: ${row.level} minutes before the deadline`),
        'platform: deadline',
        'expire: expire',
        'cleanup-pod: teardown started',
        'cleanup-pod: delete_resources->await_gone',
        'cleanup-pod: release_disk->verify',
        'cleanup-pod: teardown finished',
        'snapshot-sync: snapshot requested',
        'snapshot-sync: snapshot completed',
        'snapshot-sync: volume deleted',
      ];
    }

    /**
     * Every line of the story is there, at times that never go back (the phases each later than the
     * one before; steps one run made at one instant of the test's clock may come in either order),
     * the steps sorted by time, the user masked. Answers the story's lines in the order shown.
     */
    function expectWholeStory(answer: WhyAnswer, lines: string[]): string[] {
      const story = answer.steps.map((step) => `${step.function}: ${step.decision}`);
      const position = new Map(lines.map((line) => [line, story.findIndex((step) => step.startsWith(line))]));
      expect(
        lines.filter((line) => position.get(line)! < 0),
        JSON.stringify(story, null, 1),
      ).toEqual([]);
      const at = (line: string) => answer.steps[position.get(line)!]!.at;
      const times = lines.map(at);
      expect(times).toEqual([...times].sort());
      const phases = [lines[0]!, 'platform: deadline', 'expire: expire', 'snapshot-sync: snapshot completed'];
      expect(new Set(phases.map(at)).size).toBe(phases.length);
      expect(answer.steps.map((step) => step.at)).toEqual(answer.steps.map((step) => step.at).sort());
      expect(answer).toMatchObject({ id, kind: 'reservation', summary: { status: 'expired', user: '****le.com' } });
      expect(JSON.stringify(answer)).not.toContain(told.userId);
      return [...lines].sort((a, b) => position.get(a)! - position.get(b)!);
    }

    it('the CLI tells the whole story, warning to snapshot, as JSON and as text, the user masked', async () => {
      const lines = await storyLines();
      expect(lines[0]).toMatch(/^warn: warned: /);
      const json = await cli('--json', id);
      expect(json.code, json.stderr).toBe(0);
      const shown = expectWholeStory(JSON.parse(json.stdout) as WhyAnswer, lines);

      const text = await cli(id);
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout).toContain(`reservation ${id}: status expired`);
      expect(text.stdout).not.toContain(told.userId);
      const printedAt = (line: string) => text.stdout.indexOf(`  ${line}`);
      expect(
        lines.filter((line) => printedAt(line) < 0),
        text.stdout,
      ).toEqual([]);
      expect([...lines].sort((a, b) => printedAt(a) - printedAt(b))).toEqual(shown);
    }, 120_000);

    it("pod-watch's GET /why/<id> answers the same story", async () => {
      const response = await fetch(`${local.stack.podWatch!.health.url}/why/${encodeURIComponent(id)}`);
      expect(response.status).toBe(200);
      expectWholeStory((await response.json()) as WhyAnswer, await storyLines());
    });
  });
});

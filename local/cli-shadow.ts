/*
 * devenv-lifecycle shadow-report --since 24h [--fn F] [--tolerance 15m] [--json]: for each function
 * run in shadow mode (SHADOW_FUNCTIONS), its shadow decisions beside what the system still in
 * charge did to the same rows, and every disagreement with both sides' evidence. Each function is
 * judged on its own ground (what the origin writes when it does the same); a function whose ground
 * the origin leaves no record of gets one line saying so. Read-only.
 */
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { systemClock } from '../shared/clock.js';
import { loadConfig } from '../shared/config.js';
import { createPool } from '../shared/db/pool.js';
import {
  disksReleasedByOthers,
  oomDecisions,
  oomRecordedByOthers,
  teardownDecisions,
  warnDecisions,
  warnedByOthers,
} from '../shared/db/queries/shadow-grounds.js';
import {
  endedByOthers,
  firstShadowRun,
  shadowDecisionCount,
  shadowDecisions,
  shadowedFunctions,
} from '../shared/db/queries/shadow.js';
import type { ShadowWindow } from '../shared/db/queries/shadow.js';
import { Invalid } from '../shared/errors.js';
import { judgeOomKills, judgeTeardowns, judgeWarnings } from '../shared/runtime/rails/shadow-grounds.js';
import { groundOf, judgeShadow } from '../shared/runtime/rails/shadow-report.js';
import type { ShadowJudgement } from '../shared/runtime/rails/shadow-report.js';
import { checkFunctionName, parseSpan } from './cli-breaker.js';
import { cliEnvironment } from './cli-env.js';

const MAX_SINCE_SECONDS = 90 * 86_400;

export interface ShadowReportRequest {
  since: Date;
  until: Date;
  fn?: string;
  toleranceSeconds: number;
  watchdogOlderThanMinutes: number;
  /** The least urgent warning level (WARNING_MINUTES): the earliest a warning for a deadline can go out. 30 when not given. */
  maxWarningMinutes?: number;
}

export interface FunctionShadowReport extends ShadowJudgement {
  fn: string;
  /** What is compared for this function, and what the origin records nothing of. */
  ground: string;
  since: string;
  until: string;
  /** The first shadow run in the window: nothing before it is compared. */
  observedFrom: string | null;
}

export async function buildShadowReport(pool: pg.Pool, request: ShadowReportRequest): Promise<FunctionShadowReport[]> {
  const fns = request.fn !== undefined ? [request.fn] : await shadowedFunctions(pool, request.since, request.until);
  const reports: FunctionShadowReport[] = [];
  for (const fn of fns) {
    const window = { fn, since: request.since, until: request.until };
    const observedFrom = await firstShadowRun(pool, window);
    const base = {
      fn,
      ground: groundOf(fn).ground,
      since: request.since.toISOString(),
      until: request.until.toISOString(),
      observedFrom: observedFrom?.toISOString() ?? null,
    };
    if (observedFrom === null) {
      reports.push({ ...base, compared: 0, agreed: 0, pending: 0, uncompared: 0, disagreements: [] });
      continue;
    }
    reports.push({ ...base, ...(await judge(pool, { ...window, since: observedFrom }, request)) });
  }
  return reports;
}

/** The function's shadow decisions judged on its ground: what the origin writes when it does the same. */
async function judge(pool: pg.Pool, observed: ShadowWindow, request: ShadowReportRequest): Promise<ShadowJudgement> {
  const { until, toleranceSeconds } = request;
  switch (observed.fn) {
    case 'expire':
    case 'ending-watchdog': {
      const [decisions, ended] = await Promise.all([
        shadowDecisions(pool, observed),
        endedByOthers(pool, observed, request.watchdogOlderThanMinutes),
      ]);
      return judgeShadow(decisions, ended, until, toleranceSeconds);
    }
    case 'cleanup-pod': {
      const [decisions, released] = await Promise.all([
        teardownDecisions(pool, observed),
        disksReleasedByOthers(pool, observed),
      ]);
      return judgeTeardowns(decisions, released, until, toleranceSeconds);
    }
    case 'warn': {
      const [decisions, warned] = await Promise.all([warnDecisions(pool, observed), warnedByOthers(pool, observed)]);
      return judgeWarnings(decisions, warned, until, toleranceSeconds, request.maxWarningMinutes ?? 30);
    }
    case 'oom-scan': {
      const [decisions, recorded] = await Promise.all([
        oomDecisions(pool, observed),
        oomRecordedByOthers(pool, observed),
      ]);
      return judgeOomKills(decisions, recorded, until, toleranceSeconds);
    }
    default: {
      const uncompared = await shadowDecisionCount(pool, observed);
      return { compared: 0, agreed: 0, pending: 0, uncompared, disagreements: [] };
    }
  }
}

export function formatShadowReport(reports: FunctionShadowReport[]): string {
  if (reports.length === 0) return 'no function ran in shadow mode in the window (SHADOW_FUNCTIONS)\n';
  return reports.map(formatOne).join('\n');
}

function formatOne(report: FunctionShadowReport): string {
  if (report.observedFrom === null) return `${report.fn}: no shadow run between ${report.since} and ${report.until}\n`;
  const { noun, labels } = groundOf(report.fn);
  const runs = `${report.fn}: shadow runs from ${report.observedFrom} to ${report.until}`;
  // Nothing of the origin's to compare with: one honest line, never "0 disagreements".
  if (noun === undefined) return `${runs}: ${report.uncompared} shadow decision(s), none compared: ${report.ground}\n`;
  const unmatched = report.uncompared > 0 ? `, ${report.uncompared} with nothing to compare` : '';
  const head = `${runs}: ${report.compared} ${noun}, ${report.agreed} agree, ${report.pending} too recent to tell, ${report.disagreements.length} disagreement(s)${unmatched}`;
  const lines = report.disagreements.map((d) => {
    const ours = d.ours
      ? `ours: ${d.ours.action} first decided ${d.ours.firstDecidedAt} (${d.ours.decisions}x): ${d.ours.reason} ${JSON.stringify(d.ours.inputs)}`
      : 'ours: no decision';
    const since = d.theirs.statusChangedAt ? ` since ${d.theirs.statusChangedAt}` : '';
    const evidence = d.theirs.evidence ? ` ${JSON.stringify(d.theirs.evidence)}` : '';
    return `  ${d.entity.kind} ${d.entity.id}: ${labels[d.kind]}\n    ${ours}\n    theirs: ${d.theirs.status}${since}${evidence}`;
  });
  return [head, `  ${report.ground}`, ...lines].join('\n') + '\n';
}

export function parseShadowArgs(args: string[]): {
  sinceSeconds: number;
  toleranceSeconds: number;
  fn?: string;
  json: boolean;
} {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        since: { type: 'string', default: '24h' },
        fn: { type: 'string' },
        tolerance: { type: 'string', default: '15m' },
        json: { type: 'boolean', default: false },
      },
      strict: true,
    });
  } catch (err) {
    throw new Invalid((err as Error).message, [{ field: 'arguments', message: (err as Error).message }]);
  }
  const { values } = parsed;
  return {
    sinceSeconds: parseSpan(values.since, '--since', MAX_SINCE_SECONDS),
    toleranceSeconds: parseSpan(values.tolerance, '--tolerance', 86_400),
    ...(values.fn !== undefined ? { fn: checkFunctionName(values.fn) } : {}),
    json: values.json === true,
  };
}

export async function shadowReport(args: string[]): Promise<void> {
  const options = parseShadowArgs(args);
  const config = loadConfig(cliEnvironment());
  const pool = createPool({ ...config.database, poolMax: 2, applicationName: 'devenv-lifecycle-cli' });
  try {
    const until = systemClock.now();
    const reports = await buildShadowReport(pool, {
      since: new Date(until.getTime() - options.sinceSeconds * 1000),
      until,
      fn: options.fn,
      toleranceSeconds: options.toleranceSeconds,
      watchdogOlderThanMinutes: config.policy.watchdogOlderThanMinutes,
      maxWarningMinutes: Math.max(...config.policy.warningMinutes),
    });
    process.stdout.write(options.json ? `${JSON.stringify(reports, null, 2)}\n` : formatShadowReport(reports));
  } finally {
    await pool.end();
  }
}

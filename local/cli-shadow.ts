/*
 * devenv-lifecycle shadow-report --since 24h [--fn F] [--tolerance 15m] [--json]: for each function
 * run in shadow mode (SHADOW_FUNCTIONS), its shadow decisions beside what the system still in
 * charge did to the same rows, and every disagreement with both sides' evidence. Read-only.
 */
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { systemClock } from '../shared/clock.js';
import { loadConfig } from '../shared/config.js';
import { createPool } from '../shared/db/pool.js';
import { endedByOthers, firstShadowRun, shadowDecisions, shadowedFunctions } from '../shared/db/queries/shadow.js';
import { Invalid } from '../shared/errors.js';
import { judgeShadow } from '../shared/runtime/rails/shadow-report.js';
import type { Disagreement, ShadowJudgement } from '../shared/runtime/rails/shadow-report.js';
import { checkFunctionName, parseSpan } from './cli-breaker.js';
import { cliEnvironment } from './cli-env.js';

const MAX_SINCE_SECONDS = 90 * 86_400;

export interface ShadowReportRequest {
  since: Date;
  until: Date;
  fn?: string;
  toleranceSeconds: number;
  watchdogOlderThanMinutes: number;
}

export interface FunctionShadowReport extends ShadowJudgement {
  fn: string;
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
      since: request.since.toISOString(),
      until: request.until.toISOString(),
      observedFrom: observedFrom?.toISOString() ?? null,
    };
    if (observedFrom === null) {
      reports.push({ ...base, compared: 0, agreed: 0, pending: 0, disagreements: [] });
      continue;
    }
    const observed = { ...window, since: observedFrom };
    const [decisions, ended] = await Promise.all([
      shadowDecisions(pool, observed),
      endedByOthers(pool, observed, request.watchdogOlderThanMinutes),
    ]);
    reports.push({ ...base, ...judgeShadow(decisions, ended, request.until, request.toleranceSeconds) });
  }
  return reports;
}

const LABELS: Record<Disagreement['kind'], string> = {
  'we-would-act': 'we would have ended it; it is still live',
  'they-acted': 'they ended it; we would not have',
  'different-end': 'they ended it another way',
  'they-acted-later': 'they ended it later than we would have',
};

export function formatShadowReport(reports: FunctionShadowReport[]): string {
  if (reports.length === 0) return 'no function ran in shadow mode in the window (SHADOW_FUNCTIONS)\n';
  return reports.map(formatOne).join('\n');
}

function formatOne(report: FunctionShadowReport): string {
  if (report.observedFrom === null) return `${report.fn}: no shadow run between ${report.since} and ${report.until}\n`;
  const head = `${report.fn}: shadow runs from ${report.observedFrom} to ${report.until}: ${report.compared} row(s) we would have ended, ${report.agreed} agree, ${report.pending} too recent to tell, ${report.disagreements.length} disagreement(s)`;
  const lines = report.disagreements.map((d) => {
    const ours = d.ours
      ? `ours: ${d.ours.action} first decided ${d.ours.firstDecidedAt} (${d.ours.decisions}x): ${d.ours.reason} ${JSON.stringify(d.ours.inputs)}`
      : 'ours: no decision';
    const theirs = `theirs: ${d.theirs.status}${d.theirs.statusChangedAt ? ` since ${d.theirs.statusChangedAt}` : ''}`;
    return `  ${d.entity.kind} ${d.entity.id}: ${LABELS[d.kind]}\n    ${ours}\n    ${theirs}`;
  });
  return [head, ...lines].join('\n') + '\n';
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
    });
    process.stdout.write(options.json ? `${JSON.stringify(reports, null, 2)}\n` : formatShadowReport(reports));
  } finally {
    await pool.end();
  }
}

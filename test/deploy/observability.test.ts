/*
 * The Grafana dashboard and the Prometheus rules speak only of metrics the runtime and pod-watch's
 * fleet gauges export, with labels those metrics carry and label values the code uses; every
 * exported metric is on the dashboard; each function has a "not run in twice its schedule" alert
 * with the right window; the fleet alerts read the fleet gauges.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { Registry } from 'prom-client';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { readStack } from '../../build/stack.js';
import { createFleetMetrics, LATENESS_BUCKETS } from '../../pod-watch/fleet-metrics.js';
import { FUNCTION_NAMES } from '../../shared/runtime/invocation.js';
import { createMetrics } from '../../shared/runtime/metrics.js';

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
const rules = (
  parse(readFileSync('k8s/observability/prometheus-rules.yml', 'utf8')) as { groups: { rules: Rule[] }[] }
).groups.flatMap((g) => g.rules);
const dashboard = JSON.parse(readFileSync('k8s/observability/grafana-dashboard.json', 'utf8')) as {
  uid: string;
  panels: { id: number; title: string; targets: { expr: string }[] }[];
};
const panelExprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));

/** Our series as Prometheus exposes them (histograms as _bucket/_sum/_count) with their label names. */
function exportedSeries(): Map<string, Set<string>> {
  const series = new Map<string, Set<string>>();
  for (const metric of [...Object.values(createMetrics()), ...Object.values(createFleetMetrics(new Registry()))]) {
    const { name, labelNames = [] } = metric as { name?: string; labelNames?: string[] };
    if (typeof name !== 'string') continue;
    if ((metric as object).constructor.name === 'Histogram') {
      for (const suffix of ['_bucket', '_sum', '_count'])
        series.set(name + suffix, new Set([...labelNames, ...(suffix === '_bucket' ? ['le'] : [])]));
    } else series.set(name, new Set(labelNames));
  }
  return series;
}
const exported = exportedSeries();

/** Every `devenv_lifecycle_*` selector in an expression with its label matchers. */
function selectors(expr: string): { metric: string; matchers: [string, string][] }[] {
  return [...expr.matchAll(/\b(devenv_lifecycle_[a-z_]+)(?:\{([^}]*)\})?/g)].map(([, metric, body]) => ({
    metric: metric!,
    matchers: [...(body ?? '').matchAll(/([a-z_]+)\s*=~?\s*"([^"]*)"/g)].map(
      ([, label, value]) => [label!, value!] as [string, string],
    ),
  }));
}

// Sub-folders included: a function may keep a concern in its own folder.
const functionSource = (fn: string) =>
  readdirSync(`functions/${fn}`, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => readFileSync(`functions/${fn}/${file}`, 'utf8'))
    .join('\n');

describe.each([
  { what: 'dashboard panel', exprs: panelExprs },
  { what: 'alert rule', exprs: rules.map((r) => r.expr) },
])('every $what', ({ exprs }) => {
  it('uses only exported metrics, their labels, and label values the code produces', () => {
    expect(exprs.length).toBeGreaterThan(4);
    for (const expr of exprs) {
      const used = selectors(expr);
      expect(used.length, expr).toBeGreaterThan(0);
      for (const { metric, matchers } of used) {
        expect(exported.has(metric), `${metric} in ${expr}`).toBe(true);
        for (const [label, value] of matchers) {
          expect(exported.get(metric)!.has(label), `${metric} has no label ${label}`).toBe(true);
          if (label === 'function') expect(FUNCTION_NAMES).toContain(value);
          if (label === 'outcome' && metric.startsWith('devenv_lifecycle_runs'))
            for (const v of value.split('|'))
              expect(['succeeded', 'failed', 'skipped', 'accepted', 'invalid', 'error']).toContain(v);
          if (label === 'status' && metric.startsWith('devenv_lifecycle_fleet_'))
            expect(['queued', 'pending', 'preparing', 'active', 'ending']).toContain(value);
          if (label === 'kind') {
            const fn = matchers.find(([l]) => l === 'function')![1];
            expect(functionSource(fn), `${fn} never records kind ${value}`).toMatch(new RegExp(`'${value}'`));
          }
        }
      }
      for (const by of expr.matchAll(/by \(([^)]*)\)/g)) {
        for (const label of by[1]!.split(',').map((l) => l.trim())) {
          expect(
            selectors(expr).some(({ metric }) => exported.get(metric)!.has(label)),
            `by ${label} in ${expr}`,
          ).toBe(true);
        }
      }
    }
  });
});

describe('Grafana dashboard', () => {
  it('shows every metric the functions export, in panels with unique ids', () => {
    const shown = new Set(
      panelExprs.flatMap((e) => selectors(e).map((s) => s.metric.replace(/_(bucket|sum|count)$/, ''))),
    );
    const families = new Set([...exported.keys()].map((m) => m.replace(/_(bucket|sum|count)$/, '')));
    expect([...families].filter((m) => !shown.has(m))).toEqual([]);
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    expect(dashboard.uid).toBe('devenv-lifecycle');
  });
});

describe('Prometheus rules', () => {
  const everyMinutes = (cron: string) => (cron === '* * * * *' ? 1 : Number(/^\*\/(\d+) \* \* \* \*$/.exec(cron)?.[1]));

  it.each(
    readStack(process.cwd())
      .functions.filter((fn) => fn.annotations.schedule)
      .map((fn) => [fn.name, fn.annotations.schedule!] as const),
  )('%s alerts when it has not run in twice its schedule (%s)', (fn, cron) => {
    const rule = rules.find((r) => r.alert === 'DevenvLifecycleFunctionNotRunning' && r.labels.function === fn);
    expect(rule?.expr).toContain(`devenv_lifecycle_runs_total{function="${fn}"}[${2 * everyMinutes(cron)}m]`);
    expect(rule?.expr).toContain('or vector(0)'); // a function that never ran has no series at all
  });

  it('covers failures, a growing outbox backlog, late warnings and unverified teardowns, each explained', () => {
    for (const alert of [
      'DevenvLifecycleRunsFailing',
      'DevenvLifecycleOutboxBacklogGrowing',
      'DevenvLifecycleWarningsLate',
      'DevenvLifecycleTeardownUnverified',
      'DevenvLifecycleTeardownStuck',
    ]) {
      const rule = rules.find((r) => r.alert === alert);
      expect(rule?.annotations.summary, alert).toBeTruthy();
      expect(rule?.labels.severity, alert).toMatch(/^(warning|critical)$/);
    }
    for (const rule of rules) if (rule.for) expect(rule.for).toMatch(/^\d+[smh]$/);
  });
});

describe('fleet alerts (pod-watch, from the database)', () => {
  const rule = (alert: string) => rules.find((r) => r.alert === alert);

  it('warnings late is a lateness alert on the histogram: warnings sent over 2 minutes after their level', () => {
    const late = rule('DevenvLifecycleWarningsLate')!;
    expect(late.expr).toContain('devenv_lifecycle_fleet_warning_lateness_seconds_count[15m]');
    expect(late.expr).toContain('devenv_lifecycle_fleet_warning_lateness_seconds_bucket{le="120"}[15m]');
    expect(late.expr).not.toContain('devenv_lifecycle_actions_total');
    // 120 must be a bucket boundary, or the subtraction would count some on-time warnings as late.
    expect(LATENESS_BUCKETS).toContain(120);
    expect(rule('DevenvLifecycleWarningsNotDelivered')?.expr).toContain('outcome="failed"');
  });

  it('outbox alerts read the gauges that survive scale-to-zero', () => {
    expect(rule('DevenvLifecycleOutboxBacklogGrowing')!.expr).toContain('devenv_lifecycle_fleet_outbox_backlog');
    expect(rule('DevenvLifecycleEventsDeadLettered')!.expr).toContain('devenv_lifecycle_fleet_outbox_dead_letters');
  });

  it.each([
    ['DevenvLifecycleFleetGaugesDown', 'devenv_lifecycle_fleet_up'],
    ['DevenvLifecycleReservationsOverdue', 'devenv_lifecycle_fleet_overdue_active'],
    ['DevenvLifecycleReservationsStuck', 'devenv_lifecycle_fleet_stuck'],
    ['DevenvLifecycleTeardownOld', 'devenv_lifecycle_fleet_teardown_oldest_seconds'],
    ['DevenvLifecycleSnapshotPendingOld', 'devenv_lifecycle_fleet_snapshot_pending_oldest_seconds'],
    ['DevenvLifecycleNoRecentSuccess', 'devenv_lifecycle_fleet_last_success_timestamp_seconds'],
    ['DevenvLifecycleRunsHalted', 'devenv_lifecycle_fleet_halted_runs'],
  ])('%s reads %s and is explained', (alert, metric) => {
    expect(rule(alert)?.expr).toContain(metric);
    expect(rule(alert)?.annotations.description ?? '').toMatch(/.{40}/);
  });
});

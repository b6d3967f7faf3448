import type { RunRow } from '../shared/db/queries/runs.js';

/** The counters that say something (non-zero), by name, so two runs read alike. */
function counters(counts: Record<string, unknown>): string {
  const said = Object.entries(counts).filter(
    ([, value]) => value !== 0 && value !== '0' && value !== null && value !== undefined,
  );
  return (
    said
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, value]) => `${key}=${String(value)}`)
      .join(' ') || '-'
  );
}

/** Recent runs as an aligned text table, newest first. */
export function formatRuns(rows: RunRow[]): string {
  const header = ['STARTED (UTC)', 'FUNCTION', 'TRIGGER', 'OUTCOME', 'SECONDS', 'COUNTS', 'ERROR'];
  const lines = rows.map((row) => [
    row.started_at.toISOString().replace('T', ' ').slice(0, 19),
    row.function + (row.dry_run ? ' (dry run)' : ''),
    row.source ? `${row.trigger} (${row.source})` : row.trigger,
    row.outcome,
    row.finished_at ? ((row.finished_at.getTime() - row.started_at.getTime()) / 1000).toFixed(1) : '-',
    counters(row.counts),
    (row.error ?? '').slice(0, 60),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column]!.length)));
  const render = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('  ')
      .trimEnd();
  return [render(header), ...lines.map(render)].join('\n') + '\n';
}

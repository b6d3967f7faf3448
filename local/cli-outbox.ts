/*
 * The dead-letter side of `devenv-lifecycle runs`, and `devenv-lifecycle requeue-events`: events
 * that can never be delivered wait for an operator, who fixes the cause (a consumer that refused
 * them, a misconfigured gateway) and gives them a fresh set of attempts.
 */
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { deadLetters, requeueDead } from '../shared/db/queries/outbox.js';
import type { DeadLetter } from '../shared/db/queries/outbox.js';
import { Invalid } from '../shared/errors.js';

export const REQUEUE_USAGE = 'requeue-events (--all | --id N… | --event-id UUID…)';

const SHOWN = 20;

/** Nothing when no event is dead; otherwise a count, the newest rows and how to requeue them. */
export async function formatDeadLetters(pool: pg.Pool): Promise<string> {
  const rows = await deadLetters(pool, SHOWN + 1);
  if (rows.length === 0) return '';
  const more = rows.length > SHOWN ? ` (newest ${SHOWN} shown)` : '';
  const header = ['OUTBOX ID', 'DEAD SINCE (UTC)', 'REASON', 'ATTEMPTS', 'TYPE', 'DESTINATION', 'SUBJECT', 'ERROR'];
  const lines = rows.slice(0, SHOWN).map(cells);
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column]!.length)));
  const render = (line: string[]) =>
    line
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('  ')
      .trimEnd();
  return (
    [
      '',
      `DEAD-LETTERED EVENTS${more}: never retried until requeued (devenv-lifecycle ${REQUEUE_USAGE})`,
      render(header),
      ...lines.map(render),
    ].join('\n') + '\n'
  );
}

function cells(row: DeadLetter): string[] {
  return [
    row.id,
    row.dead_at.toISOString().replace('T', ' ').slice(0, 19),
    row.dead_reason,
    String(row.attempts),
    row.type.replace(/^dev\.devenv\.lifecycle\./, ''),
    row.destination,
    // JSON quoting keeps an id with a newline or a control character on one visible line.
    row.subject === null ? '-' : JSON.stringify(row.subject).slice(0, 60),
    oneLine(row.last_error ?? '').slice(0, 60),
  ];
}

function oneLine(text: string): string {
  return [...text].map((character) => (character < ' ' || character === '\u007f' ? ' ' : character)).join('');
}

export interface RequeueSelection {
  all: boolean;
  ids: string[];
  eventIds: string[];
}

export function parseRequeueArgs(args: string[]): RequeueSelection {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        all: { type: 'boolean', default: false },
        id: { type: 'string', multiple: true },
        'event-id': { type: 'string', multiple: true },
      },
      strict: true,
    }));
  } catch (err) {
    throw new Invalid((err as Error).message, [{ field: 'arguments', message: (err as Error).message }]);
  }
  const selection = { all: values.all === true, ids: values.id ?? [], eventIds: values['event-id'] ?? [] };
  checkSelection(selection);
  return selection;
}

export async function requeueDeadEvents(pool: pg.Pool, selection: RequeueSelection, now: Date): Promise<number> {
  checkSelection(selection);
  const filter = selection.all
    ? {}
    : {
        ...(selection.ids.length > 0 ? { ids: selection.ids } : {}),
        ...(selection.eventIds.length > 0 ? { eventIds: selection.eventIds } : {}),
      };
  return requeueDead(pool, filter, now);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function checkSelection({ all, ids, eventIds }: RequeueSelection): void {
  const chosen = ids.length > 0 || eventIds.length > 0;
  if (all === chosen)
    throw new Invalid(`say which events to requeue: ${REQUEUE_USAGE}`, [
      { field: 'arguments', message: 'choose --all or ids' },
    ]);
  if (ids.some((id) => !/^[1-9][0-9]{0,17}$/.test(id)))
    throw new Invalid('--id takes an outbox id (a positive whole number)', [
      { field: '--id', message: 'positive whole number' },
    ]);
  if (eventIds.some((id) => !UUID.test(id)))
    throw new Invalid('--event-id takes an event id (a UUID)', [{ field: '--event-id', message: 'must be a UUID' }]);
}

/*
 * ending-watchdog's selection rule lives in `decide` (selectLabs). The SQL in `endingLabs` keeps a
 * predicate for the index; this table runs the same labs through both and shows the SQL selects a
 * superset of what `decide` takes, and `decide` takes exactly what the rule says.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { selectLabs } from '../../functions/ending-watchdog/decide.js';
import { endingLabs } from '../../shared/db/queries/labs.js';
import { useTestDatabase } from '../support/database.js';
import { insertLab } from '../support/fixtures.js';

const db = useTestDatabase();
const NOW = new Date('2026-06-01T12:00:00Z');
const minutesAgo = (minutes: number) => new Date(NOW.getTime() - minutes * 60_000);

// [name, status, minutes in ENDING (null: unknown), taken by a 30-minute rule]
const CASES: [string, string, number | null, boolean][] = [
  ['old ending', 'ending', 90, true],
  ['just past the limit', 'ending', 30.01, true],
  ['exactly at the limit', 'ending', 30, false],
  ['fresh ending', 'ending', 5, false],
  ['ending since unknown', 'ending', null, false],
  ['entered ending in the future (clock skew)', 'ending', -10, false],
  ['old but finished', 'finished', 90, false],
  ['old but failed', 'failed', 90, false],
  ['old but ready', 'ready', 90, false],
];

beforeEach(async () => {
  await db.pool.query('delete from labs');
});

describe('ending-watchdog rule: SQL and decide agree', () => {
  it('the SQL candidates are a superset of what decide takes, and decide takes exactly the rule', async () => {
    const ids = new Map<string, string>();
    for (const [name, status, minutes] of CASES) {
      const since = minutes === null ? null : minutesAgo(minutes);
      const lab = await insertLab(db.pool, { status, ending_since: since, status_changed_at: since ?? NOW });
      ids.set(lab.id, name);
    }
    const rows = await endingLabs(db.pool, { olderThan: minutesAgo(30), limit: 100 });
    const candidates = rows.map((row) => ({
      id: row.id,
      ownerId: row.owner_id,
      endingSince: row.ending_since,
      namespace: 'ns',
    }));
    const taken = selectLabs(candidates, NOW, { olderThanMinutes: 30, maxLabs: 100 }).map((lab) => ids.get(lab.id));
    const expected = CASES.filter(([, , , take]) => take).map(([name]) => name);
    expect(new Set(taken)).toEqual(new Set(expected));
    for (const name of expected) expect(rows.map((row) => ids.get(row.id))).toContain(name);
  });

  it('a lab chosen by id is taken whatever its age, by both', async () => {
    const lab = await insertLab(db.pool, {
      status: 'ending',
      ending_since: minutesAgo(1),
      status_changed_at: minutesAgo(1),
    });
    const rows = await endingLabs(db.pool, { labId: lab.id, olderThan: minutesAgo(30), limit: 1 });
    expect(rows.map((row) => row.id)).toEqual([lab.id]);
    const candidates = rows.map((row) => ({
      id: row.id,
      ownerId: row.owner_id,
      endingSince: row.ending_since,
      namespace: 'ns',
    }));
    expect(selectLabs(candidates, NOW, { olderThanMinutes: 30, maxLabs: 1, labId: lab.id }).map((l) => l.id)).toEqual([
      lab.id,
    ]);
  });
});

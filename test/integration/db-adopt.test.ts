import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Catalog } from '../../shared/db/adopt/catalog.js';
import { normalise, readCatalog } from '../../shared/db/adopt/catalog.js';
import { loadMigrations, migrate } from '../../shared/db/migrate.js';
import { endingLabs } from '../../shared/db/queries/labs.js';
import { overdueWaiting } from '../../shared/db/queries/reservations.js';
import type { OriginDatabase } from '../fixtures/origin-schema/load.js';
import { createOriginDatabase, schemaFingerprint, tableContents } from '../fixtures/origin-schema/load.js';
import { useEmptyDatabase, useTestDatabase } from '../support/database.js';

const ORIGIN_TABLES = ['reservations', 'disks', 'labs', 'port_reservations', 'domain_mappings', 'users'];
const allVersions = loadMigrations().map((migration) => migration.version);
const fresh = useTestDatabase({ poolMax: 2 });

/** What a freshly migrated database has on the origin tables and the adopted one lacks. */
function missingFrom(adopted: Catalog, expected: Catalog): string[] {
  const shapes = (catalog: Catalog, items: { table: string; name: string; definition: string }[]) =>
    new Set(items.map((item) => `${item.table}: ${normalise(item.definition, [catalog.schema], item.name)}`));
  const have = (catalog: Catalog) =>
    new Set([
      ...catalog.columns.map((c) => `${c.table}.${c.name} ${c.notNull ? 'not null' : 'null'} default ${c.default}`),
      // A CHECK added from its deparsed text deparses differently again (same meaning): by name.
      ...shapes(
        catalog,
        catalog.constraints.filter((c) => c.kind !== 'c'),
      ),
      ...catalog.constraints.filter((c) => c.kind === 'c').map((c) => `${c.table}: ${c.name}`),
      ...shapes(catalog, catalog.indexes),
      ...shapes(catalog, catalog.triggers),
    ]);
  const adoptedHas = have(adopted);
  return [...have(expected)].filter((item) => !adoptedHas.has(item));
}

async function originColumnsOnly(pool: pg.Pool, before: Record<string, unknown[]>): Promise<Record<string, unknown[]>> {
  const after = await tableContents(pool, ORIGIN_TABLES);
  const keep = (row: unknown, keys: string[]) =>
    Object.fromEntries(keys.map((key) => [key, (row as Record<string, unknown>)[key]]));
  return sortedLike(
    Object.fromEntries(
      Object.entries(after).map(([table, rows]) => [
        table,
        rows.map((row) => keep(row, Object.keys(before[table]![0] as object))),
      ]),
    ),
  );
}

async function recordedVersions(pool: pg.Pool): Promise<number[]> {
  const { rows } = await pool.query<{ version: number }>('select version from schema_migrations order by version');
  return rows.map((row) => row.version);
}

describe('a database the origin systems created', () => {
  let origin: OriginDatabase;
  let before: Record<string, unknown[]>;
  beforeAll(async () => {
    origin = await createOriginDatabase();
    before = await tableContents(origin.pool, ORIGIN_TABLES);
  });
  afterAll(() => origin.drop());

  it('a plain migrate refuses in one line that names --adopt-existing, and changes nothing', async () => {
    const fingerprint = await schemaFingerprint(origin.pool);
    const refusal = migrate(origin.pool);
    await expect(refusal).rejects.toThrow(
      /already has origin tables \(reservations, disks, labs, port_reservations\).*--adopt-existing/,
    );
    await expect(migrate(origin.pool)).rejects.not.toThrow(/\n/);
    expect(await schemaFingerprint(origin.pool)).toBe(fingerprint);
    const { rows } = await origin.pool.query(`select to_regclass('schema_migrations') as ledger`);
    expect(rows[0]).toEqual({ ledger: null });
  });

  it('a dry run reports what adopting would change, and changes nothing', async () => {
    const fingerprint = await schemaFingerprint(origin.pool);
    const report = await migrate(origin.pool, undefined, { adoptExisting: true, dryRun: true });
    expect(report).toEqual({
      applied: [],
      alreadyApplied: 0,
      adopted: expect.arrayContaining(['backfilled labs.ending_since on 1 labs in ENDING']),
    });
    expect(await schemaFingerprint(origin.pool)).toBe(fingerprint);
    expect(await tableContents(origin.pool, ORIGIN_TABLES)).toEqual(before);
  });

  it('adopts: every row and value kept, 0001 recorded with its checksum, 0002+ applied', async () => {
    const report = await migrate(origin.pool, undefined, { adoptExisting: true });
    expect(report.adopted).toEqual(
      expect.arrayContaining([
        'added reservations.status_changed_at timestamp with time zone default now()',
        'filled 1 null reservations.oom_count with 0',
        'created trigger labs_track_status on labs',
      ]),
    );
    expect(report.applied).toEqual(
      loadMigrations()
        .slice(1)
        .map((migration) => migration.name),
    );
    expect(await recordedVersions(origin.pool)).toEqual(allVersions);
    const { rows } = await origin.pool.query<{ checksum: string }>(
      'select checksum from schema_migrations where version = 1',
    );
    expect(rows[0]!.checksum).toBe(loadMigrations()[0]!.checksum);
    const expected = structuredClone(before);
    (
      expected.reservations!.find((row) => (row as { oom_count: unknown }).oom_count === null) as { oom_count: number }
    ).oom_count = 0;
    expect(await originColumnsOnly(origin.pool, before)).toEqual(sortedLike(expected));
  });

  it('has everything a freshly migrated database has on those tables, but the origin key it kept', async () => {
    const adoptedClient = await origin.pool.connect();
    const freshClient = await fresh.pool.connect();
    try {
      const missing = missingFrom(await readCatalog(adoptedClient, 'public'), await readCatalog(freshClient, 'public'));
      expect(missing).toEqual(['port_reservations.id not null default null']);
    } finally {
      adoptedClient.release();
      freshClient.release();
    }
  });

  it('backfills the status anchors from the best recorded time', async () => {
    const { rows } = await origin.pool.query<{ id: string; at: Date }>(
      `select reservation_id as id, status_changed_at as at from reservations order by reservation_id`,
    );
    expect(Object.fromEntries(rows.map((row) => [row.id.slice(0, 4), row.at.toISOString()]))).toEqual({
      '0b7e': '2026-03-02T08:04:00.000Z', // active: launched_at
      '1c8f': '2026-03-01T13:07:10.000Z', // expired: reservation_ended
      '2d90': '2026-03-01T11:02:00.000Z', // failed without failed_at: updated_at
      '3ea1': '2026-02-28T07:05:00.000Z', // cancelled: cancelled_at
      '4fb2': '2026-03-02T06:00:00.000Z', // queued: updated_at
      '50c3': '2026-03-02T07:45:00.000Z', // pending: updated_at, later than created_at
      '61d4': '2026-03-02T07:50:00.000Z', // preparing: updated_at, not created_at
      '72e5': '2026-03-02T07:03:00.000Z',
    });
    const labs = await origin.pool.query<{ status: string; changed: Date; ending: Date | null }>(
      `select status, status_changed_at as changed, ending_since as ending from labs order by id`,
    );
    expect(labs.rows.map((row) => [row.status, row.changed.toISOString(), row.ending?.toISOString() ?? null])).toEqual([
      ['ready', '2026-03-02T07:02:00.000Z', null],
      ['ending', '2026-03-02T06:30:00.000Z', '2026-03-02T06:30:00.000Z'],
      ['finished', '2026-03-01T18:00:00.000Z', null],
      ['failed', '2026-03-01T12:00:00.000Z', null],
    ]);
  });

  it("serves the functions' queries, and a status change fires the trigger", async () => {
    const ending = await endingLabs(origin.pool, { olderThan: new Date('2026-03-02T07:00:00Z'), limit: 20 });
    expect(ending.map((lab) => lab.id)).toEqual(['bb000000-0000-4000-8000-0000000000b2']);
    expect(await endingLabs(origin.pool, { olderThan: new Date('2026-03-02T06:30:00Z'), limit: 20 })).toEqual([]);
    const waiting = await overdueWaiting(
      origin.pool,
      new Date('2026-03-04T06:30:00Z'),
      { preparingMinutes: 60, queueHours: 48 },
      10,
    );
    expect(waiting.map((row) => row.reservation_id.slice(0, 4)).sort()).toEqual(['4fb2', '61d4']);
    const { rows } = await origin.pool.query<{ changed: Date; tx: Date; updated: Date }>(
      `update reservations set status = 'expired' where reservation_id = '0b7e52c4-1d9a-4c55-9a51-6f1c2f0d8a01'
       returning status_changed_at as changed, updated_at as updated, now() as tx`,
    );
    expect(rows[0]!.changed).toEqual(rows[0]!.tx);
    expect(rows[0]!.updated).toEqual(rows[0]!.tx);
    await expect(
      origin.pool.query(`update reservations set status = 'terminated' where reservation_id like '0b7e%'`),
    ).rejects.toThrow(/reservations_status_known/);
  });

  it('adopting again, or migrating after adopting, is a no-op', async () => {
    const fingerprint = await schemaFingerprint(origin.pool);
    const contents = await tableContents(origin.pool, ORIGIN_TABLES);
    expect(await migrate(origin.pool, undefined, { adoptExisting: true })).toEqual({
      applied: [],
      alreadyApplied: allVersions.length,
      adopted: [],
    });
    expect(await migrate(origin.pool)).toEqual({ applied: [], alreadyApplied: allVersions.length, adopted: [] });
    expect(await schemaFingerprint(origin.pool)).toBe(fingerprint);
    expect(await tableContents(origin.pool, ORIGIN_TABLES)).toEqual(contents);
  });
});

function sortedLike(contents: Record<string, unknown[]>): Record<string, unknown[]> {
  return Object.fromEntries(
    Object.entries(contents).map(([table, rows]) => [
      table,
      [...rows].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    ]),
  );
}

describe('--adopt-existing on a database this product migrated', () => {
  const target = useEmptyDatabase();

  it('is a no-op', async () => {
    const pool = new pg.Pool({ connectionString: target.url, max: 2 });
    try {
      await migrate(pool);
      const fingerprint = await schemaFingerprint(pool);
      expect(await migrate(pool, undefined, { adoptExisting: true })).toEqual({
        applied: [],
        alreadyApplied: allVersions.length,
        adopted: [],
      });
      expect(await schemaFingerprint(pool)).toBe(fingerprint);
    } finally {
      await pool.end();
    }
  });
});

describe('adopters started at once', () => {
  it('queue on the migration lock: one adopts, the others find it done', async () => {
    const origin = await createOriginDatabase();
    const pools = Array.from({ length: 3 }, () => new pg.Pool({ connectionString: origin.url, max: 1 }));
    try {
      const reports = await Promise.all(pools.map((pool) => migrate(pool, undefined, { adoptExisting: true })));
      expect(reports.filter((report) => report.adopted.length > 0)).toHaveLength(1);
      expect(await recordedVersions(origin.pool)).toEqual(allVersions);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
      await origin.drop();
    }
  });
});

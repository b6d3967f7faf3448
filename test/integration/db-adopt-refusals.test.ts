import { afterEach, describe, expect, it } from 'vitest';
import { AdoptionRefused } from '../../shared/db/adopt/index.js';
import type { MigrateOptions } from '../../shared/db/migrate.js';
import { loadMigrations, migrate } from '../../shared/db/migrate.js';
import { Invalid } from '../../shared/errors.js';
import type { OriginDatabase } from '../fixtures/origin-schema/load.js';
import { createOriginDatabase, schemaFingerprint, tableContents } from '../fixtures/origin-schema/load.js';

const TABLES = ['reservations', 'disks', 'labs', 'port_reservations', 'domain_mappings', 'users'];
const opened: OriginDatabase[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((origin) => origin.drop()));
});

async function origin(damage: string): Promise<OriginDatabase> {
  const created = await createOriginDatabase();
  opened.push(created);
  await created.pool.query(damage);
  return created;
}

/** Adoption refuses with problems matching `expected`, and the database is exactly as before. */
async function expectRefused(
  target: OriginDatabase,
  expected: RegExp[],
  options: MigrateOptions = {},
): Promise<string[]> {
  const fingerprint = await schemaFingerprint(target.pool);
  const contents = await tableContents(target.pool, TABLES);
  const error = await migrate(target.pool, undefined, { adoptExisting: true, ...options }).catch((err: unknown) => err);
  expect(error).toBeInstanceOf(AdoptionRefused);
  const problems = (error as AdoptionRefused).problems;
  expect(problems).toHaveLength(expected.length);
  expected.forEach((pattern, i) => expect(problems[i]).toMatch(pattern));
  expect(await schemaFingerprint(target.pool)).toBe(fingerprint);
  expect(await tableContents(target.pool, TABLES)).toEqual(contents);
  const { rows } = await target.pool.query(`select to_regclass('schema_migrations') as ledger`);
  expect(rows[0]).toEqual({ ledger: null });
  return problems;
}

describe('adoption refuses, changing nothing', () => {
  it('rows that break a constraint 0001 declares: names it, counts them, shows a few ids', async () => {
    const target = await origin(`
      update reservations set status = 'terminated' where reservation_id in ('1c8f63d5-2eab-4d66-8b62-7a2d3e1e9b02', '3ea185f7-40cd-4f88-8d84-9c4f5a3fbd04');
      update disks set pending_snapshot_count = -1 where disk_name = 'bob-main';
      update labs set runtime = 'vm' where status = 'failed'`);
    await expectRefused(target, [
      /^disks: 1 rows violate disks_pending_snapshot_count_non_negative \(CHECK .*\), e\.g\. 9a1b2c3d-0000-4000-8000-000000000002$/,
      /^labs: 1 rows violate labs_runtime_known .* e\.g\. bb000000-0000-4000-8000-0000000000b4$/,
      /^reservations: 2 rows violate reservations_status_known .* e\.g\. 1c8f63d5-2eab-4d66-8b62-7a2d3e1e9b02, 3ea185f7-40cd-4f88-8d84-9c4f5a3fbd04$/,
    ]);
  });

  it('a NULL where 0001 declares NOT NULL without a default', async () => {
    const target =
      await origin(`alter table labs alter column runtime drop not null; alter table labs alter column runtime drop default;
      update labs set runtime = null where status = 'ready'`);
    // 0001 gives runtime a default, so the null is filled; owner_id has none and cannot be invented.
    await target.pool.query(`alter table reservations alter column user_id drop not null;
      update reservations set user_id = null where status = 'queued'`);
    await expectRefused(target, [
      /^reservations\.user_id: not null \(0001\) is violated by 1 rows, e\.g\. 4fb29608-51de-4099-9e95-ad506b4ace05$/,
    ]);
  });

  it('duplicates under a unique index 0001 declares', async () => {
    const target = await origin(
      `drop index ix_labs_novnc_host_port; update labs set novnc_host_port = 6081 where status = 'ending'`,
    );
    await expectRefused(target, [
      /^labs: 2 rows violate the unique index labs_novnc_host_port_unique \(novnc_host_port where \(novnc_host_port IS NOT NULL\)\), e\.g\. bb000000-0000-4000-8000-0000000000b1, bb000000-0000-4000-8000-0000000000b2$/,
    ]);
  });

  it('a disk whose holder does not exist, once the foreign key is gone', async () => {
    const target = await origin(`alter table disks drop constraint disks_reservation_id_fkey;
      update disks set reservation_id = 'ffffffff-0000-0000-0000-000000000000' where disk_name = 'bob-main'`);
    await expectRefused(target, [
      /^disks: 1 rows violate disks_reservation_id_fkey \(FOREIGN KEY \(reservation_id\) REFERENCES reservations\(reservation_id\) ON DELETE SET NULL\), e\.g\. 9a1b2c3d-0000-4000-8000-000000000002$/,
    ]);
  });

  it('a required column missing, or of a type the product cannot use', async () => {
    const target = await origin(
      `alter table labs drop column owner_id; alter table reservations alter column duration_hours type text`,
    );
    await expectRefused(target, [
      /^labs\.owner_id: required column is missing/,
      /^reservations\.duration_hours: type text is incompatible with double precision$/,
    ]);
  });

  it('a constraint under 0001’s name that says something else', async () => {
    const target = await origin(`alter table labs add constraint labs_status_known check (status <> '')`);
    await expectRefused(target, [/^labs: labs_status_known is CHECK .*, but 0001 declares labs_status_known CHECK/]);
  });

  it('another primary key, or an index, trigger function or trigger under 0001’s name that does something else', async () => {
    const target =
      await origin(`alter table disks drop constraint disks_pkey; alter table disks add constraint disks_pkey primary key (user_id, disk_name);
      create index disks_holder on disks (user_id);
      create function labs_track_status() returns trigger language plpgsql as $$ begin return new; end $$;
      create trigger disks_track_changes before update on disks for each row execute function update_disks_last_updated()`);
    await expectRefused(target, [
      /^disks: disks_pkey is PRIMARY KEY \(user_id, disk_name\), but 0001 declares disks_pkey PRIMARY KEY \(disk_id\)$/,
      /^disks: an index named disks_holder exists with another definition than 0001's/,
      /^a different function named labs_track_status\(\) exists; 0001 needs its own$/,
      /^disks: a trigger named disks_track_changes exists with another definition than 0001's/,
    ]);
  });
});

describe("another tool's schema_migrations", () => {
  it('is not taken for ours: its version 1 is not our 0001, and nothing is changed', async () => {
    const target = await origin(`create table schema_migrations (version bigint primary key, dirty boolean not null);
      insert into schema_migrations values (1, false), (8, false)`);
    const fingerprint = await schemaFingerprint(target.pool);
    await expect(migrate(target.pool)).rejects.toThrow(
      /schema_migrations exists but is not devenv-lifecycle's \(columns dirty, version; another migration tool's\?\): rename it/,
    );
    await expect(migrate(target.pool, undefined, { adoptExisting: true })).rejects.toThrow(/not devenv-lifecycle's/);
    expect(await schemaFingerprint(target.pool)).toBe(fingerprint);
    await target.pool.query('alter table schema_migrations rename to origin_schema_migrations');
    expect((await migrate(target.pool, undefined, { adoptExisting: true })).adopted.length).toBeGreaterThan(0);
  });
});

describe('timestamps stored without a time zone (the origin bug)', () => {
  const naive = `alter table reservations alter column expires_at type timestamp without time zone using expires_at at time zone 'UTC';
    alter table reservations alter column launched_at type text using to_char(launched_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS');
    update reservations set launched_at = launched_at || '+00:00' where status = 'expired'`;

  it('are refused without an explicit zone: the instants are ambiguous', async () => {
    const target = await origin(naive);
    await expectRefused(target, [
      /^reservations\.launched_at: is text, not timestamptz.*--assume-time-zone/,
      /^reservations\.expires_at: is timestamp without time zone, not timestamptz.*--assume-time-zone <zone>/,
    ]);
  });

  it('convert with the zone the operator names; a value with an offset keeps its instant', async () => {
    const target = await origin(naive);
    const report = await migrate(target.pool, undefined, { adoptExisting: true, assumeTimeZone: 'America/New_York' });
    expect(report.adopted).toContain(
      'converted reservations.expires_at from timestamp without time zone to timestamp with time zone, reading values without an offset as America/New_York',
    );
    const { rows } = await target.pool.query<{ id: string; expires: Date | null; launched: Date | null }>(
      `select left(reservation_id, 4) as id, expires_at as expires, launched_at as launched from reservations where launched_at is not null order by 1`,
    );
    expect(rows.map((row) => [row.id, row.expires?.toISOString(), row.launched?.toISOString()])).toEqual([
      ['0b7e', '2026-03-02T21:04:00.000Z', '2026-03-02T13:04:00.000Z'],
      ['1c8f', '2026-03-01T18:05:00.000Z', '2026-03-01T09:05:00.000Z'],
      ['72e5', '2026-03-02T14:03:00.000Z', '2026-03-02T12:03:00.000Z'],
    ]);
  });

  it('text that is not a recorded instant (a word like now included) is refused with the rows, even with a zone', async () => {
    const target = await origin(`${naive}; update reservations set launched_at = 'None' where status = 'active';
      update reservations set launched_at = 'now' where status = 'expired'`);
    await expectRefused(
      target,
      [
        /^reservations\.launched_at: 3 rows hold text that is not a timestamp, e\.g\. 0b7e52c4-1d9a-4c55-9a51-6f1c2f0d8a01, 1c8f63d5-2eab-4d66-8b62-7a2d3e1e9b02, 72e5c93b-8401-43cc-a1c8-d0839e7df108$/,
      ],
      { assumeTimeZone: 'UTC' },
    );
  });

  it("a converted column's origin default is dropped and reported, and 0001's (if any) set", async () => {
    const target =
      await origin(`${naive}; alter table reservations alter column expires_at set default localtimestamp + interval '1 hour';
      alter table reservations alter column created_at type timestamp without time zone using created_at at time zone 'UTC'`);
    const report = await migrate(target.pool, undefined, { adoptExisting: true, assumeTimeZone: 'UTC' });
    expect(report.adopted).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^converted reservations\.expires_at from .* as UTC; dropped its default \(LOCALTIMESTAMP \+ '01:00:00'::interval\)$/,
        ),
        expect.stringMatching(/^converted reservations\.created_at from .* as UTC; dropped its default now\(\)$/),
        'set default now() on reservations.created_at',
      ]),
    );
    const { rows } = await target.pool.query(
      `select column_default as d from information_schema.columns where table_name = 'reservations' and column_name = 'expires_at'`,
    );
    expect(rows[0]).toEqual({ d: null });
  });

  it('an unknown zone name is bad input', async () => {
    const target = await origin(naive);
    await expect(
      migrate(target.pool, undefined, { adoptExisting: true, assumeTimeZone: 'Mars/Olympus' }),
    ).rejects.toThrow(Invalid);
  });
});

describe('a database with only the GPU dev-server tables', () => {
  it('is adopted, and the OctoLab tables are created empty', async () => {
    const target = await createOriginDatabase({ only: ['002', '003', '008'] });
    opened.push(target);
    const report = await migrate(target.pool, undefined, { adoptExisting: true });
    expect(report.adopted).toEqual(
      expect.arrayContaining([
        'created table labs (it did not exist)',
        'created table port_reservations (it did not exist)',
      ]),
    );
    expect(report.applied).toHaveLength(loadMigrations().length - 1);
    const { rows } = await target.pool.query(`select count(*)::int as n from labs`);
    expect(rows[0]).toEqual({ n: 0 });
    await target.pool.query(
      `insert into labs (id, owner_id, status) values (gen_random_uuid(), gen_random_uuid(), 'ending')`,
    );
    const stamped = await target.pool.query(`select ending_since is not null as set from labs`);
    expect(stamped.rows[0]).toEqual({ set: true });
  });
});

describe("the origin's own triggers", () => {
  it('do not fire while adoption fills values, even enabled ALWAYS, and are left as the origin set them', async () => {
    const target = await origin(`alter table reservations enable always trigger update_reservations_updated_at;
      alter table disks disable trigger update_disks_last_updated`);
    const report = await migrate(target.pool, undefined, { adoptExisting: true });
    expect(report.adopted).toContain('filled 1 null reservations.oom_count with 0');
    const { rows } = await target.pool.query<{ updated: Date }>(
      `select updated_at as updated from reservations where reservation_id like '72e5%'`,
    );
    expect(rows[0]!.updated.toISOString()).toBe('2026-03-02T07:40:00.000Z');
    const triggers = await target.pool.query<{ name: string; enabled: string }>(
      `select tgname as name, tgenabled::text as enabled from pg_trigger where tgname in ('update_reservations_updated_at', 'update_disks_last_updated') order by 1`,
    );
    expect(triggers.rows).toEqual([
      { name: 'update_disks_last_updated', enabled: 'D' },
      { name: 'update_reservations_updated_at', enabled: 'A' },
    ]);
  });
});

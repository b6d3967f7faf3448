/*
 * The shadow report beyond ends: cleanup-pod's teardowns are compared with the disk releases the
 * origin writes (disks.in_use, reservation_id, last_used), warn's warnings with its
 * warnings_sent / last_warning_time, oom-scan's kills with its oom_count / last_oom_at; in shadow
 * mode none of them acts. A function whose ground the
 * origin leaves no record of says so in one line instead of reporting no disagreement.
 */
import { describe, expect, it } from 'vitest';
import { cleanupPod } from '../../functions/cleanup-pod/handler.js';
import { oomScan } from '../../functions/oom-scan/handler.js';
import { snapshotSync } from '../../functions/snapshot-sync/handler.js';
import { warn } from '../../functions/warn/handler.js';
import { buildShadowReport, formatShadowReport } from '../../local/cli-shadow.js';
import { runCli } from '../support/cli.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertDisk, insertReservation } from '../support/fixtures.js';
import { seedEndedReservation } from './cleanup-pod-seed.js';

const h = useFunctionHarness({ SHADOW_FUNCTIONS: 'cleanup-pod,warn,oom-scan,snapshot-sync' });
const q = async (sql: string, params: unknown[] = []) => (await h.deps.pool.query(sql, params)).rows;
const everything = async () => ({
  reservations: await q('select * from reservations order by reservation_id'),
  disks: await q('select * from disks order by disk_id'),
});

const report = (fn: string, since: Date) =>
  buildShadowReport(h.deps.pool, {
    fn,
    since,
    until: h.clock.now(),
    toleranceSeconds: 900,
    watchdogOlderThanMinutes: 30,
    maxWarningMinutes: 30,
  });

const rows = (disagreements: Awaited<ReturnType<typeof report>>[number]['disagreements']) =>
  disagreements.map((d) => [
    d.kind,
    d.entity.kind,
    d.entity.id,
    d.ours?.action ?? null,
    d.theirs.status,
    d.theirs.statusChangedAt,
  ]);

// What the origin's cleanup writes for a teardown: the disk freed by user and name, last_used its time.
const theyRelease = (diskId: string, when: Date) =>
  q('update disks set in_use = false, reservation_id = null, last_used = $2 where disk_id = $1', [diskId, when]);

// What the origin's warn writes (when its UPDATE goes through): the level's flag and the unix time.
const theyWarn = (id: string, level: number, when: Date) =>
  q(`update reservations set warnings_sent = $2::jsonb, last_warning_time = $3 where reservation_id = $1`, [
    id,
    JSON.stringify({ [`${level}min_warning_sent`]: true }),
    Math.floor(when.getTime() / 1000),
  ]);

describe('shadow report: cleanup-pod against the disk releases', () => {
  it('changes nothing in shadow mode and lists exactly the seeded disagreements', async () => {
    const t0 = h.clock.now();
    const at = (minutes: number) => new Date(t0.getTime() + minutes * 60_000);
    const agreed = await seedEndedReservation(h);
    const stillHeld = await seedEndedReservation(h);
    const later = await seedEndedReservation(h);
    const noDisk = await insertReservation(h.deps.pool, { status: 'expired', disk_name: null, status_changed_at: t0 });
    // The user's disk already moved to a newer, live reservation: not ours to release, nor theirs.
    const movedOn = await insertReservation(h.deps.pool, {
      status: 'failed',
      disk_name: 'home-moved',
      status_changed_at: t0,
    });
    const newer = await insertReservation(h.deps.pool, { status: 'active', disk_name: 'home-moved' });
    await insertDisk(h.deps.pool, { disk_name: 'home-moved', in_use: true, reservation_id: newer.reservation_id });
    // A live reservation's disk, which the origin frees by user and name (its bug A-4).
    const live = await insertReservation(h.deps.pool, { status: 'active', disk_name: 'home-live' });
    const liveDisk = await insertDisk(h.deps.pool, {
      disk_name: 'home-live',
      in_use: true,
      reservation_id: live.reservation_id,
    });
    const before = await everything();
    const podsBefore = h.sim.kube.list('pods', 'gpu-dev').length;

    const first = await h.schedule(cleanupPod);
    expect(first).toMatchObject({ outcome: 'succeeded', summary: { shadow: 5 } });
    expect(first.message).toMatch(/shadow mode: 5 decision\(s\), 5 new recorded, nothing acted on/);
    // Nothing acted on: no row changed, no teardown started, no delete sent, every pod still there.
    expect(await everything()).toEqual(before);
    expect(await q('select * from cleanup_progress')).toEqual([]);
    expect(h.sim.requests.all().filter((r) => r.method === 'DELETE')).toEqual([]);
    expect(h.sim.kube.list('pods', 'gpu-dev')).toHaveLength(podsBefore);

    await theyRelease(agreed.diskId, at(2));
    await theyRelease(liveDisk.disk_id, at(5));
    h.clock.set(at(15));
    // The same five again: a shadow run records only what changed since an entity's last shadow record.
    expect((await h.schedule(cleanupPod)).summary).toMatchObject({ shadow: 5, shadow_recorded: 0 });
    await theyRelease(later.diskId, at(30));
    h.clock.set(at(40));

    const [result] = await report('cleanup-pod', at(-1));
    expect(result).toMatchObject({ fn: 'cleanup-pod', compared: 4, agreed: 2, pending: 0, uncompared: 1 });
    expect(rows(result!.disagreements)).toEqual([
      ['we-would-act', 'reservation', stillHeld.id, 'tear-down', 'disk held', null],
      ['they-acted', 'disk', liveDisk.disk_id, null, 'disk released', at(5).toISOString()],
      ['they-acted-later', 'reservation', later.id, 'tear-down', 'disk released', at(30).toISOString()],
    ]);
    expect(result!.disagreements[0]!.theirs.evidence).toEqual({
      diskId: stillHeld.diskId,
      inUse: true,
      holder: stillHeld.id,
      lastUsed: null,
      reservationStatus: 'expired',
    });
    expect(result!.disagreements[1]!.theirs.evidence).toMatchObject({ liveReservation: live.reservation_id });
    expect(result!.disagreements[0]!.ours).toMatchObject({
      decisions: 1,
      firstDecidedAt: t0.toISOString(),
      lastDecidedAt: t0.toISOString(),
    });

    const text = formatShadowReport([result!]);
    expect(text).toContain(
      '4 teardown(s) with a disk, 2 agree, 0 too recent to tell, 3 disagreement(s), 1 with nothing to compare',
    );
    expect(text).toContain('the origin records no pod or service deletion');
    expect(text).toContain(
      `reservation ${stillHeld.id}: we would have released its disk; the ended reservation still holds it`,
    );
    expect(text).toContain(`disk ${liveDisk.disk_id}: they released the disk; no teardown of ours would have`);
    expect(text).not.toContain(noDisk.reservation_id);
    expect(text).not.toContain(movedOn.reservation_id);
  });
});

describe('shadow report: warn against warnings_sent and last_warning_time', () => {
  const active = async (name: string, minutesLeft: number) => {
    const id = `${name}-0000-4000-8000-000000000000`;
    const podName = `gpu-dev-${name}`;
    await insertReservation(h.deps.pool, {
      reservation_id: id,
      pod_name: podName,
      expires_at: new Date(h.clock.now().getTime() + minutesLeft * 60_000),
    });
    h.sim.kube.addPod({ name: podName, namespace: 'gpu-dev', labels: { 'reservation-id': id } });
    return id;
  };

  it('changes nothing in shadow mode and lists exactly the seeded disagreements', async () => {
    h.clock.advanceMinutes(60); // clear of the teardown test's window
    const t0 = h.clock.now();
    const at = (minutes: number) => new Date(t0.getTime() + minutes * 60_000);
    const agreed = await active('aaaa0001', 20);
    const unrecorded = await active('aaaa0002', 25);
    const late = await active('aaaa0003', 28);
    const theyOnly = await active('aaaa0004', 120);
    const before = await everything();

    const first = await h.schedule(warn);
    expect(first).toMatchObject({ outcome: 'succeeded', summary: { shadow: 3, warned: 0 } });
    expect(await everything()).toEqual(before);
    expect(await q('select * from warning_ledger')).toEqual([]);
    expect(h.sim.requests.all().filter((r) => r.path.includes('/exec'))).toEqual([]);

    await theyWarn(agreed, 30, at(1));
    await theyWarn(theyOnly, 30, at(3));
    h.clock.set(at(15));
    // The 15-minute and 5-minute levels now: new decisions, recorded.
    expect((await h.schedule(warn)).summary).toMatchObject({ shadow: 3, shadow_recorded: 3 });
    await theyWarn(late, 15, at(20));
    h.clock.set(at(40));

    const [result] = await report('warn', at(-1));
    expect(result).toMatchObject({ fn: 'warn', compared: 3, agreed: 1, pending: 0, uncompared: 0 });
    expect(rows(result!.disagreements)).toEqual([
      ['we-would-act', 'reservation', unrecorded, 'warn', 'not warned', null],
      ['they-acted', 'reservation', theyOnly, null, 'warned', at(3).toISOString()],
      ['they-acted-later', 'reservation', late, 'warn', 'warned', at(20).toISOString()],
    ]);
    expect(result!.disagreements[0]!.ours).toMatchObject({ decisions: 2, inputs: { levels: [30, 15] } });
    expect(result!.disagreements[2]!.theirs.evidence).toEqual({
      warningsSent: ['15min_warning_sent'],
      lastWarningTime: at(20).toISOString(),
      expiresAt: at(28).toISOString(),
    });
    const text = formatShadowReport([result!]);
    expect(text).toContain('3 warning(s) we would have sent, 1 agree, 0 too recent to tell, 3 disagreement(s)');
    expect(text).toContain('origin bug A-3');
    expect(text).toContain(`reservation ${unrecorded}: we would have warned; they recorded no warning`);
  });
});

describe('shadow report: oom-scan against oom_count and last_oom_at', () => {
  it('changes nothing in shadow mode and lists exactly the seeded disagreements', async () => {
    h.clock.advanceMinutes(60);
    const t0 = h.clock.now();
    const at = (minutes: number) => new Date(t0.getTime() + minutes * 60_000);
    const killed = async (name: string) => {
      const id = `${name}-0000-4000-8000-000000000000`;
      const pod = { namespace: 'gpu-dev', name: `gpu-dev-${name}` };
      await insertReservation(h.deps.pool, { reservation_id: id, pod_name: pod.name });
      h.sim.kube.addPod({ ...pod, labels: { 'reservation-id': id } });
      h.sim.kube.oomKill(pod, 'gpu-dev');
      return { id, pod };
    };
    const agreed = await killed('bbbb0001');
    const unrecorded = await killed('bbbb0002');
    const olderOnly = await killed('bbbb0003');
    const theyOnly = await insertReservation(h.deps.pool, { status: 'active', pod_name: null });
    const theyRecord = (id: string, when: Date, count: number) =>
      q(
        `update reservations set last_oom_at = $2, oom_count = $3, oom_container = 'gpu-dev' where reservation_id = $1`,
        [id, when, count],
      );
    await theyRecord(olderOnly.id, at(-120), 1); // an earlier kill: not this one
    const before = await everything();

    const first = await h.schedule(oomScan);
    expect(first).toMatchObject({ outcome: 'succeeded', summary: { shadow: 3 } });
    expect(await everything()).toEqual(before);
    expect(await q('select * from oom_kills')).toEqual([]);
    expect(h.sim.kube.readFile(agreed.pod, '/home/dev/OOM_DETECTED.txt')).toBeUndefined();

    await theyRecord(agreed.id, t0, 1);
    // Without a finish time the origin writes its own time (and counts again every run, A-15).
    await theyRecord(theyOnly.reservation_id, at(3), 4);
    h.clock.set(at(20));
    expect((await h.schedule(oomScan)).summary).toMatchObject({ shadow: 3, shadow_recorded: 0 });

    const [result] = await report('oom-scan', at(-1));
    expect(result).toMatchObject({ fn: 'oom-scan', compared: 3, agreed: 1, pending: 0, uncompared: 0 });
    expect(rows(result!.disagreements)).toEqual([
      ['we-would-act', 'reservation', unrecorded.id, 'record-kill', 'no kill recorded', null],
      ['we-would-act', 'reservation', olderOnly.id, 'record-kill', 'no kill recorded', null],
      ['they-acted', 'reservation', theyOnly.reservation_id, null, 'kill recorded', at(3).toISOString()],
    ]);
    expect(result!.disagreements[1]!.theirs.evidence).toEqual({
      oomCount: 1,
      lastOomAt: at(-120).toISOString(),
      oomContainer: 'gpu-dev',
    });
    expect(result!.disagreements[0]!.ours).toMatchObject({
      decisions: 1,
      inputs: { container: 'gpu-dev', finishedAt: t0.toISOString(), kills: 1 },
    });
    expect(formatShadowReport([result!])).toContain(
      `reservation ${theyOnly.reservation_id}: they recorded a kill; we saw none`,
    );
  });
});

describe('shadow report: a function the origin leaves no record of', () => {
  it('says so in one line instead of reporting no disagreement', async () => {
    h.clock.advanceMinutes(60);
    const since = h.clock.now();
    expect((await h.schedule(snapshotSync)).summary).toHaveProperty('shadow');
    h.clock.advanceMinutes(5);
    const [result] = await report('snapshot-sync', since);
    expect(result).toMatchObject({ compared: 0, agreed: 0, disagreements: [] });
    expect(formatShadowReport([result!])).toMatch(
      /^snapshot-sync: shadow runs from \S+ to \S+: \d+ shadow decision\(s\), none compared: the origin records no snapshot or volume deletion in the database \(EC2 only\); compared: none\n$/,
    );
  });
});

describe('devenv-lifecycle shadow-report', () => {
  // The command reads up to its own wall clock: the shadow runs happen half an hour before it.
  const dbUrl = () => (h.deps.pool as unknown as { options: { connectionString: string } }).options.connectionString;
  const cli = (...args: string[]) =>
    runCli(['shadow-report', ...args], { env: { DATABASE_URL: dbUrl() }, cwd: '/', timeoutMs: 60_000 });

  it('prints the judgement of each shadowed function, as text and as JSON', async () => {
    h.clock.set(new Date(Date.now() - 30 * 60_000));
    const held = await seedEndedReservation(h);
    expect((await h.schedule(cleanupPod)).summary).toMatchObject({ shadow: 1 });

    const json = await cli('--since', '2h', '--fn', 'cleanup-pod', '--json');
    expect(json).toMatchObject({ code: 0, stderr: '' });
    const [parsed] = JSON.parse(json.stdout) as Awaited<ReturnType<typeof report>>;
    expect(parsed).toMatchObject({ fn: 'cleanup-pod', compared: 1, agreed: 0, pending: 0, uncompared: 0 });
    expect(parsed!.ground).toMatch(/^compared: disk releases/);
    expect(rows(parsed!.disagreements)).toEqual([
      ['we-would-act', 'reservation', held.id, 'tear-down', 'disk held', null],
    ]);

    const text = await cli('--since', '2h');
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('cleanup-pod: shadow runs from ');
    expect(text.stdout).toContain('1 teardown(s) with a disk, 0 agree, 0 too recent to tell, 1 disagreement(s)');
    expect(text.stdout).toContain(
      `reservation ${held.id}: we would have released its disk; the ended reservation still holds it`,
    );
  }, 120_000);
});

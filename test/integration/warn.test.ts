/* warn end to end: exec into simulated pods with the real client, ledger in a real database. */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { warn } from '../../functions/warn/handler.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertReservation } from '../support/fixtures.js';

const webhookCalls: unknown[] = [];
let webhookStatus = 200;
const webhook = http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    webhookCalls.push(JSON.parse(body));
    res.writeHead(webhookStatus).end();
  });
});
let webhookUrl = '';
beforeAll(async () => {
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  webhookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook`;
});
afterAll(() => new Promise<void>((resolve) => webhook.close(() => resolve())));

const h = useFunctionHarness(() => ({ WEBHOOK_URL: webhookUrl }));
const inMinutes = (minutes: number) => new Date(h.clock.now().getTime() + minutes * 60_000);
const pod = (id: string) => ({ namespace: 'gpu-dev', name: `gpu-dev-${id.slice(0, 8)}` });

async function reservation(id: string, expiresInMinutes: number, withPod = true) {
  await insertReservation(h.deps.pool, {
    reservation_id: id,
    pod_name: pod(id).name,
    namespace: 'gpu-dev',
    expires_at: inMinutes(expiresInMinutes),
  });
  if (withPod) h.sim.kube.addPod({ ...pod(id), labels: { 'reservation-id': id } });
}

const warningFiles = (id: string) =>
  h.sim.kube.listFiles(pod(id), '/home/dev').filter((name) => name.startsWith('WARN_'));

beforeEach(() => {
  webhookCalls.length = 0;
  webhookStatus = 200;
  h.sim.faults.clear();
});

describe('warn', () => {
  it('writes the most urgent crossed level once per deadline, replacing older files, and broadcasts', async () => {
    await reservation('wwww0001-main', 14.5);
    const first = await h.schedule(warn);
    expect(first).toMatchObject({ outcome: 'succeeded', summary: { warned: 1 } });
    expect(warningFiles('wwww0001-main')).toEqual(['WARN_EXPIRES_IN_14MIN.txt']);
    const text = h.sim.kube.readFile(pod('wwww0001-main'), '/home/dev/WARN_EXPIRES_IN_14MIN.txt')!;
    expect(text).toContain('gpu-dev extend wwww0001-main');
    expect(text).toContain('Expires at:     2026-06-01 12:14:30 UTC');
    expect(h.sim.kube.broadcasts(pod('wwww0001-main'))).toHaveLength(1);

    expect((await h.schedule(warn)).summary.warned).toBe(0);
    h.clock.advanceMinutes(11);
    expect((await h.schedule(warn)).summary.warned).toBe(1);
    expect(warningFiles('wwww0001-main')).toEqual(['WARN_EXPIRES_IN_3MIN.txt']);
    h.clock.advanceMinutes(4);
    expect((await h.schedule(warn)).summary.warned).toBe(0); // past the deadline: never
  });

  it('passes content on stdin with a fixed argv (A-16)', async () => {
    await reservation('wwww0002-argv', 20);
    await h.schedule(warn);
    const exec = h.sim.kube.execs(pod('wwww0002-argv'))[0]!;
    expect(exec.argv.slice(0, 5)).toEqual([
      'sh',
      '-c',
      'rm -f /home/dev/WARN_EXPIRES_IN_*MIN.txt && cat > "$1" || exit 1; wall "$2" || exit 75',
      'sh',
      '/home/dev/WARN_EXPIRES_IN_20MIN.txt',
    ]);
    expect(exec.argv[2]).not.toContain('wwww0002');
    expect(exec.stdin).toContain('Save your work now');
    expect(exec.stdin).toContain('gpu-dev extend wwww0002-argv');
  });

  it('delivers text with shell metacharacters byte for byte (nothing reaches a shell)', async () => {
    const hostile = `wwww0006-$(touch /tmp/pwned);\`id\`|'"&&rm -rf ~`;
    await insertReservation(h.deps.pool, {
      reservation_id: hostile,
      pod_name: 'gpu-dev-hostile',
      namespace: 'gpu-dev',
      expires_at: inMinutes(20),
    });
    h.sim.kube.addPod({ namespace: 'gpu-dev', name: 'gpu-dev-hostile' });
    await h.schedule(warn);
    const text = h.sim.kube.readFile(
      { namespace: 'gpu-dev', name: 'gpu-dev-hostile' },
      '/home/dev/WARN_EXPIRES_IN_20MIN.txt',
    )!;
    // Delivered byte for byte, and the copy-paste command quotes the id for the user's shell.
    expect(text).toContain("gpu-dev extend 'wwww0006-$(touch /tmp/pwned);`id`|'\\''\"&&rm -rf ~'\n");
    expect(h.sim.kube.listFiles({ namespace: 'gpu-dev', name: 'gpu-dev-hostile' }, '/tmp')).not.toContain('pwned');
  });

  it('an id that cannot be a label value stays out of the batched listing: its batch is listed, it is read by name', async () => {
    const hostile = `wqqq0002 ${'x'.repeat(70)}\nline`;
    await reservation('wqqq0001-good', 20);
    await insertReservation(h.deps.pool, {
      reservation_id: hostile,
      pod_name: 'gpu-dev-hostile2',
      namespace: 'gpu-dev',
      expires_at: inMinutes(20),
    });
    h.sim.kube.addPod({ namespace: 'gpu-dev', name: 'gpu-dev-hostile2' });
    h.sim.requests.clear();
    expect((await h.schedule(warn)).summary).toMatchObject({ warned: 2 });
    const lists = h.sim.requests.all().filter((r) => r.path === '/api/v1/namespaces/gpu-dev/pods');
    expect(lists.map((r) => r.query.get('labelSelector'))).toEqual(['reservation-id in (wqqq0001-good)']);
    const text = h.sim.kube.readFile(
      { namespace: 'gpu-dev', name: 'gpu-dev-hostile2' },
      '/home/dev/WARN_EXPIRES_IN_20MIN.txt',
    )!;
    expect(text).toContain(`gpu-dev extend 'wqqq0002 ${'x'.repeat(70)}line'\n`);
    // Out of the way of the tests below, which count what is due.
    await h.deps.pool.query(`update reservations set status = 'expired' where reservation_id = any($1::text[])`, [
      ['wqqq0001-good', hostile],
    ]);
  });

  it('re-arms the levels when the reservation is extended', async () => {
    await reservation('wwww0003-extend', 10);
    await h.schedule(warn);
    await h.deps.pool.query('update reservations set expires_at = $2 where reservation_id = $1', [
      'wwww0003-extend',
      inMinutes(25),
    ]);
    const result = await h.schedule(warn);
    expect(result.summary.warned).toBe(1);
    expect(warningFiles('wwww0003-extend')).toEqual(['WARN_EXPIRES_IN_25MIN.txt']);
  });

  it('records a failed delivery, reports the run failed, and succeeds on a later run', async () => {
    await reservation('wwww0004-execfail', 12);
    h.sim.faults.add({ path: /\/exec/, status: 500, count: 1 });
    const failed = await h.schedule(warn);
    expect(failed).toMatchObject({ outcome: 'failed', summary: { warn_failed: 1 } });
    expect(warningFiles('wwww0004-execfail')).toEqual([]);
    expect((await h.schedule(warn)).summary.warned).toBe(1);
    const { rows } = await h.deps.pool.query(
      `select state, attempts from warning_ledger where reservation_id = 'wwww0004-execfail'`,
    );
    expect(rows).toEqual([{ state: 'sent', attempts: 2 }]);
  });

  it('leaves a reservation whose pod is gone to expire: not warned, not a failure, warned once the pod is back', async () => {
    await reservation('wwww0010-nopod', 12, false);
    const result = await h.schedule(warn);
    expect(result).toMatchObject({ outcome: 'succeeded', summary: { warned: 0, warn_failed: 0, pod_missing: 1 } });
    const { rows } = await h.deps.pool.query(`select 1 from warning_ledger where reservation_id = 'wwww0010-nopod'`);
    expect(rows).toEqual([]);
    h.sim.kube.addPod({ ...pod('wwww0010-nopod'), labels: { 'reservation-id': 'wwww0010-nopod' } });
    expect((await h.schedule(warn)).summary.warned).toBe(1);
  });

  it("never writes into a pod that carries another reservation's label (colliding pod names, A-17)", async () => {
    await insertReservation(h.deps.pool, {
      reservation_id: 'wwww0011-mine',
      pod_name: 'gpu-dev-shared',
      namespace: 'gpu-dev',
      expires_at: inMinutes(12),
    });
    h.sim.kube.addPod({
      namespace: 'gpu-dev',
      name: 'gpu-dev-shared',
      labels: { 'reservation-id': 'wwww0099-someone-else' },
    });
    const result = await h.schedule(warn);
    expect(result).toMatchObject({ outcome: 'succeeded', summary: { warned: 0, pod_mismatch: 1 } });
    expect(h.sim.kube.listFiles({ namespace: 'gpu-dev', name: 'gpu-dev-shared' }, '/home/dev')).toEqual([]);
    expect(h.sim.kube.execs({ namespace: 'gpu-dev', name: 'gpu-dev-shared' })).toEqual([]);
    await h.deps.pool.query(`delete from reservations where reservation_id = 'wwww0011-mine'`);
  });

  it("never writes into the row's pod when the reservation's label is on another pod (pod_mismatch)", async () => {
    await insertReservation(h.deps.pool, {
      reservation_id: 'wwww0016-moved',
      pod_name: 'gpu-dev-rowname',
      namespace: 'gpu-dev',
      expires_at: inMinutes(12),
    });
    h.sim.kube.addPod({ namespace: 'gpu-dev', name: 'gpu-dev-rowname' });
    h.sim.kube.addPod({
      namespace: 'gpu-dev',
      name: 'gpu-dev-labelled',
      labels: { 'reservation-id': 'wwww0016-moved' },
    });
    const result = await h.schedule(warn);
    expect(result).toMatchObject({ outcome: 'succeeded', summary: { warned: 0, pod_mismatch: 1 } });
    expect(h.sim.kube.execs({ namespace: 'gpu-dev', name: 'gpu-dev-rowname' })).toEqual([]);
    expect(h.sim.kube.execs({ namespace: 'gpu-dev', name: 'gpu-dev-labelled' })).toEqual([]);
    await h.deps.pool.query(`delete from reservations where reservation_id = 'wwww0016-moved'`);
  });

  it('does not deliver when it cannot tell whose pod it is, and says the run failed', async () => {
    await insertReservation(h.deps.pool, {
      reservation_id: 'wwww0012-unknown',
      pod_name: 'gpu-dev-unlabelled',
      namespace: 'gpu-dev',
      expires_at: inMinutes(12),
    });
    h.sim.kube.addPod({ namespace: 'gpu-dev', name: 'gpu-dev-unlabelled' });
    h.sim.faults.add({ method: 'GET', path: '/api/v1/namespaces/gpu-dev/pods/gpu-dev-unlabelled', status: 503 });
    const result = await h.schedule(warn);
    expect(result).toMatchObject({ outcome: 'failed', summary: { warned: 0, warn_failed: 1 } });
    expect(h.sim.kube.execs({ namespace: 'gpu-dev', name: 'gpu-dev-unlabelled' })).toEqual([]);
    h.sim.faults.clear();
    expect((await h.schedule(warn)).summary.warned).toBe(1);
  });

  it('posts the warning to the webhook, and retries a refused post on the next run without re-warning', async () => {
    await reservation('wwww0005-hook', 4);
    webhookStatus = 500;
    const first = await h.schedule(warn);
    expect(first.summary).toMatchObject({ warned: 1, webhook_failed: 1 });
    webhookStatus = 200;
    const second = await h.schedule(warn);
    expect(second.summary).toMatchObject({ warned: 0, webhook_sent: 1 });
    expect(webhookCalls.at(-1)).toMatchObject({
      type: 'reservation.warned',
      reservationId: 'wwww0005-hook',
      levelMinutes: 5,
    });
    // No ACTION_BASE_URL here: the notice offers no links.
    expect(webhookCalls.at(-1)).toMatchObject({ actions: [] });
  });

  it('posts a webhook notice at most once: one whose run was killed mid-post is never posted again', async () => {
    await reservation('wwww0014-hookdied', 4);
    // A run killed between its post and its mark leaves the notice claimed ('sending').
    await h.deps.pool.query(
      `insert into warning_ledger (reservation_id, expires_at, level_minutes, state, minutes_left, first_attempt_at, sent_at, webhook_state, webhook_attempts)
       values ('wwww0014-hookdied', $1, 5, 'sent', 4, $2, $2, 'sending', 1)`,
      [inMinutes(4), h.clock.now()],
    );
    h.clock.advanceMinutes(2);
    expect((await h.schedule(warn)).summary).toMatchObject({ warned: 0 });
    expect(
      webhookCalls.filter((call) => (call as { reservationId: string }).reservationId === 'wwww0014-hookdied'),
    ).toEqual([]);
    await h.deps.pool.query(`update reservations set status = 'expired' where reservation_id = 'wwww0014-hookdied'`);
  });

  it('a level delivered again after a killed run gets its webhook notice once (the killed run never queued it)', async () => {
    await reservation('wwww0015-redeliver', 12);
    await h.deps.pool.query(
      `insert into warning_ledger (reservation_id, expires_at, level_minutes, state, minutes_left, first_attempt_at, claimed_at)
       values ('wwww0015-redeliver', $1, 15, 'sending', 12, $2, $2)`,
      [inMinutes(12), h.clock.now()],
    );
    h.clock.advanceSeconds(h.deps.config.run.budgetSeconds + h.deps.config.kube.execTimeoutMs / 1000 + 1);
    const calls = () =>
      webhookCalls.filter((call) => (call as { reservationId: string }).reservationId === 'wwww0015-redeliver');
    expect((await h.schedule(warn)).summary).toMatchObject({ redelivered: 1, webhook_sent: 1 });
    expect((await h.schedule(warn)).summary).toMatchObject({ warned: 0, redelivered: 0 });
    expect(calls()).toHaveLength(1);
    expect(h.sim.kube.broadcasts(pod('wwww0015-redeliver'))).toEqual([]);
    expect(warningFiles('wwww0015-redeliver')).toEqual(['WARN_EXPIRES_IN_11MIN.txt']);
    await h.deps.pool.query(`update reservations set status = 'expired' where reservation_id = 'wwww0015-redeliver'`);
  });

  it('is not crowded out by a horizon full of reservations already warned for their level', async () => {
    // 120 reservations 20 minutes out, already warned at 30: more than the query's slack (100).
    await h.deps.pool.query(
      `insert into reservations (reservation_id, user_id, status, expires_at, pod_name, namespace)
       select 'wwww0007-warned-' || i, 'u', 'active', $1, 'gpu-dev-warned-' || i, 'gpu-dev' from generate_series(1, 120) as i`,
      [inMinutes(20)],
    );
    await h.deps.pool.query(
      `insert into warning_ledger (reservation_id, expires_at, level_minutes, state, minutes_left, first_attempt_at, sent_at)
       select reservation_id, expires_at, 30, 'sent', 29, $1, $1 from reservations where reservation_id like 'wwww0007-warned-%'`,
      [h.clock.now()],
    );
    await reservation('wwww0008-crossed', 29.5);
    const result = await h.manual(warn, { maxItems: 1 });
    expect(result.summary).toMatchObject({ warned: 1 });
    expect(warningFiles('wwww0008-crossed')).toEqual(['WARN_EXPIRES_IN_29MIN.txt']);
    await h.deps.pool.query(`delete from reservations where reservation_id like 'wwww0007-%'`);
  });

  it('records every delivery of a busy run once, with one reservation.warned event each', async () => {
    const ids = Array.from({ length: 12 }, (_, i) => `wb${String(i).padStart(2, '0')}0009-busy`);
    for (const id of ids) await reservation(id, 12);
    // Publish to a sink (the loopback server) so the staged events land in the outbox.
    const deps = { ...h.deps, run: { ...h.deps.run, publish: { mode: 'knative' as const, sinkUrl: webhookUrl } } };
    const result = await warn.handle(
      { kind: 'schedule', source: 'cron-connector', callId: randomUUID(), options: warn.optionsSchema.parse({}) },
      deps,
    );
    expect(result.summary).toMatchObject({ warned: 12, warn_failed: 0 });
    const ledger = await h.deps.pool.query(
      `select reservation_id, level_minutes, state from warning_ledger where reservation_id like 'wb%0009-busy' order by 1`,
    );
    expect(ledger.rows).toEqual(ids.map((id) => ({ reservation_id: id, level_minutes: 15, state: 'sent' })));
    const events = await h.deps.pool.query(
      `select subject from event_outbox where type like '%reservation.warned' and subject like 'wb%0009-busy' order by 1`,
    );
    expect(events.rows).toEqual(ids.map((id) => ({ subject: id })));
  });

  it("leaves warnings for the next run once the run's time budget is spent", async () => {
    await reservation('wwww0013-budget', 12);
    // The pod check is slow: by the time it answers, the run's budget is over.
    const pods = {
      ...h.deps.pods,
      podsForReservations: async (namespace: string, ids: readonly string[]) => {
        h.clock.advanceSeconds(h.deps.config.run.budgetSeconds + 1);
        return h.deps.pods.podsForReservations(namespace, ids);
      },
    };
    const invocation = {
      kind: 'schedule' as const,
      source: 'cron-connector' as const,
      callId: randomUUID(),
      options: warn.optionsSchema.parse({}),
    };
    const late = await warn.handle(invocation, { ...h.deps, pods });
    expect(late).toMatchObject({ outcome: 'succeeded', summary: { warned: 0, deferred: 1 } });
    expect(warningFiles('wwww0013-budget')).toEqual([]);
    expect((await h.schedule(warn)).summary.warned).toBe(1);
  });
});

/*
 * warn delivers each warning with ONE pod exec (issue 18): the file content on stdin, the file name
 * and the broadcast line as arguments of a fixed script, so no user text is ever parsed by a shell.
 * Ledger writes go in fixed-size batches, so the same work always costs the same SQL statements.
 */
import pg from 'pg';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { warn } from '../../functions/warn/handler.js';
import { DELIVER_WARNING_SCRIPT } from '../../functions/warn/deliver.js';
import { broadcastText } from '../../functions/warn/message.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertReservation } from '../support/fixtures.js';

const h = useFunctionHarness({ WARN_CONCURRENCY: '4' });
const inMinutes = (minutes: number) => new Date(h.clock.now().getTime() + minutes * 60_000);

async function reservation(id: string, podName: string, expiresInMinutes: number) {
  await insertReservation(h.deps.pool, {
    reservation_id: id,
    pod_name: podName,
    namespace: 'gpu-dev',
    expires_at: inMinutes(expiresInMinutes),
  });
  h.sim.kube.addPod({ namespace: 'gpu-dev', name: podName, labels: { 'reservation-id': id } });
}

// Every statement any pg client sends, as the benchmark counts them.
const counted = { statements: 0 };
const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
const original = proto.query;
proto.query = function (this: unknown, ...args: unknown[]) {
  counted.statements += 1;
  return original.apply(this, args);
};
afterAll(() => {
  proto.query = original;
});

beforeEach(() => h.sim.faults.clear());

describe('warn: one exec per warning', () => {
  it('writes the file and broadcasts with a single exec per warning', async () => {
    const ids = Array.from({ length: 6 }, (_, i) => `oe0${i}0001-one`);
    for (const id of ids) await reservation(id, `gpu-dev-${id.slice(0, 8)}`, 12);
    const result = await h.schedule(warn);
    expect(result.summary).toMatchObject({ warned: 6, warn_failed: 0 });
    for (const id of ids) {
      const pod = { namespace: 'gpu-dev', name: `gpu-dev-${id.slice(0, 8)}` };
      const execs = h.sim.kube.execs(pod);
      expect(execs).toHaveLength(1);
      expect(execs[0]!.argv[2]).toBe(DELIVER_WARNING_SCRIPT);
      expect(h.sim.kube.listFiles(pod, '/home/dev')).toEqual(['WARN_EXPIRES_IN_12MIN.txt']);
      expect(h.sim.kube.broadcasts(pod)).toHaveLength(1);
    }
    await h.deps.pool.query(`update reservations set status = 'expired' where reservation_id like 'oe%-one'`);
  });

  it('passes the broadcast line as an argument, verbatim, however hostile the id', async () => {
    const hostile = `oh010001-$(touch /tmp/pwned);\`id\`|'"&&rm -rf ~\nfake line`;
    const pod = { namespace: 'gpu-dev', name: 'gpu-dev-hostile' };
    await insertReservation(h.deps.pool, {
      reservation_id: hostile,
      pod_name: pod.name,
      namespace: 'gpu-dev',
      expires_at: inMinutes(20),
    });
    h.sim.kube.addPod(pod);
    expect((await h.schedule(warn)).summary).toMatchObject({ warned: 1 });
    const [exec] = h.sim.kube.execs(pod);
    const expected = broadcastText({
      reservationId: hostile,
      minutesLeft: 20,
      expiresAt: inMinutes(20),
      now: h.clock.now(),
    });
    // The script is the fixed constant; the text is its $2, one argv element, byte for byte.
    expect(exec!.argv.slice(0, 4)).toEqual(['sh', '-c', DELIVER_WARNING_SCRIPT, 'sh']);
    expect(exec!.argv[5]).toBe(expected.replace(/\n$/, ''));
    expect(expected).toContain(`'oh010001-$(touch /tmp/pwned);\`id\`|'\\''"&&rm -rf ~fake line'`);
    expect(h.sim.kube.broadcasts(pod).map((b) => b.message)).toEqual([expected]);
    expect(h.sim.kube.listFiles(pod, '/tmp')).not.toContain('pwned');
    await h.deps.pool.query(`update reservations set status = 'expired' where reservation_id = $1`, [hostile]);
  });

  it('costs the same SQL statements for the same work, however the execs finish', async () => {
    const ids = Array.from({ length: 10 }, (_, i) => `od${String(i).padStart(2, '0')}0001-det`);
    for (const id of ids) await reservation(id, `gpu-dev-${id.slice(0, 8)}`, 12);
    const statementsOfRun = async () => {
      await h.deps.pool.query(`delete from warning_ledger where reservation_id like 'od%-det'`);
      const before = counted.statements;
      expect((await h.schedule(warn)).summary).toMatchObject({ warned: 10 });
      return counted.statements - before;
    };
    const even = await statementsOfRun();
    // Execs that finish at scattered times: a group commit would write a different number of batches.
    h.sim.faults.add({ path: /\/exec/, delayMs: 40, probability: 0.5 });
    const scattered = await statementsOfRun();
    h.sim.faults.clear();
    h.sim.faults.add({ path: /\/exec/, delayMs: 15, probability: 0.3 });
    const again = await statementsOfRun();
    expect([scattered, again]).toEqual([even, even]);
  });
});

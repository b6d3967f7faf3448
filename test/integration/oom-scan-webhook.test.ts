/*
 * oom-scan's optional webhook, against the simulated cluster, a real database and a local HTTP
 * receiver: each kill is posted once as JSON; a refused post is retried by a later run without
 * writing the pod notice again, and never fails the run. A claim left by a killed run is taken over
 * for the pod file (writing it again is harmless) and never for the webhook (at most once).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oomScan } from '../../functions/oom-scan/handler.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertReservation } from '../support/fixtures.js';

const posts: Record<string, unknown>[] = [];
const answers: number[] = [];
/** Run when a post arrives, before it is answered: lets a test move the clock mid-run. */
const onPost: (() => void)[] = [];
let url = '';
const receiver = http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
  req.on('end', () => {
    onPost.shift()?.();
    const status = answers.shift() ?? 200;
    if (status === 200) posts.push(JSON.parse(body) as Record<string, unknown>);
    res.writeHead(status).end();
  });
});
beforeAll(async () => {
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
});
afterAll(() => new Promise<void>((resolve) => receiver.close(() => resolve())));

const h = useFunctionHarness(() => ({ WEBHOOK_URL: url, WEBHOOK_TIMEOUT_MS: '2000' }));
const pod = { namespace: 'gpu-dev', name: 'gpu-dev-oooo0004' };
const noticeWrites = () => h.sim.kube.execs(pod).filter((exec) => exec.argv.includes('/home/dev/OOM_DETECTED.txt'));

describe('oom-scan webhook', () => {
  it('posts each kill once; a refused post is retried by the next run, which leaves the pod notice alone', async () => {
    await insertReservation(h.deps.pool, {
      reservation_id: 'oooo0004-res',
      pod_name: pod.name,
      namespace: pod.namespace,
    });
    h.sim.kube.addPod({ ...pod, labels: { 'reservation-id': 'oooo0004-res' } });
    h.sim.kube.oomKill(pod, 'gpu-dev');
    answers.push(503);
    const first = await h.schedule(oomScan);
    expect(first.outcome).toBe('succeeded');
    expect(first.summary).toMatchObject({ oom_detected: 1, notices_sent: 1, webhook_sent: 0, webhook_failed: 1 });
    expect(posts).toEqual([]);

    const second = await h.schedule(oomScan);
    expect(second.summary).toMatchObject({ oom_detected: 0, notices_sent: 0, webhook_sent: 1, webhook_failed: 0 });
    expect(posts).toEqual([
      expect.objectContaining({
        type: 'reservation.oom',
        reservationId: 'oooo0004-res',
        podName: pod.name,
        namespace: pod.namespace,
        container: 'gpu-dev',
        restartCount: 1,
        killedAt: h.clock.now().toISOString(),
        oomCount: 1,
      }),
    ]);
    expect(posts[0]!.text).toContain('Out of memory');
    expect(noticeWrites()).toHaveLength(1);

    expect((await h.schedule(oomScan)).summary).toMatchObject({ webhook_sent: 0, webhook_failed: 0 });
    expect(posts).toHaveLength(1);
  });

  it('stops sending at the run deadline; what it did not send is not claimed, so the next run sends it, each post once', async () => {
    const pods = ['gpu-dev-oooo0005', 'gpu-dev-oooo0006'].map((name) => ({ namespace: 'gpu-dev', name }));
    for (const [i, p] of pods.entries()) {
      await insertReservation(h.deps.pool, {
        reservation_id: `oooo000${5 + i}-res`,
        pod_name: p.name,
        namespace: p.namespace,
      });
      h.sim.kube.addPod({ ...p, labels: { 'reservation-id': `oooo000${5 + i}-res` } });
      h.sim.kube.oomKill(p, 'gpu-dev');
    }
    posts.length = 0;
    // The first post takes the run past its 50 s budget: no other send starts after it.
    onPost.push(() => h.clock.advanceSeconds(51));
    const first = await h.schedule(oomScan);
    expect(first.summary).toMatchObject({ oom_detected: 2, webhook_sent: 1, webhook_failed: 0 });
    expect(posts).toHaveLength(1);
    const claimed = await h.deps.pool.query(
      `select pod_name from oom_kills where pod_name = any($1) and webhook_lease_until is not null`,
      [pods.map((p) => p.name)],
    );
    expect(claimed.rows).toEqual([]);

    expect((await h.manual(oomScan)).summary).toMatchObject({ webhook_sent: 1 });
    expect(posts.map((post) => post.podName).sort()).toEqual(pods.map((p) => p.name));
    expect((await h.manual(oomScan)).summary).toMatchObject({ webhook_sent: 0 });
    expect(posts).toHaveLength(2);
  });

  it('after a run killed between send and mark: the pod file is written again once its claim is abandoned, the webhook is never posted twice', async () => {
    const p = { namespace: 'gpu-dev', name: 'gpu-dev-oooo0007' };
    await insertReservation(h.deps.pool, { reservation_id: 'oooo0007-res', pod_name: p.name, namespace: p.namespace });
    h.sim.kube.addPod({ ...p, labels: { 'reservation-id': 'oooo0007-res' } });
    h.sim.kube.oomKill(p, 'gpu-dev');
    expect((await h.schedule(oomScan)).summary).toMatchObject({ oom_detected: 1, notices_sent: 1, webhook_sent: 1 });
    posts.length = 0;
    const writes = h.sim.kube.execs(p).filter((exec) => exec.argv.includes('/home/dev/OOM_DETECTED.txt')).length;
    // What a run killed after its sends and before its marks leaves: both claims held, nothing settled.
    await h.deps.pool.query(
      `update oom_kills set notice_state = 'pending', webhook_state = 'pending', notice_lease_until = $2, webhook_lease_until = $2 where pod_name = $1`,
      [p.name, h.clock.now()],
    );
    expect((await h.manual(oomScan)).summary).toMatchObject({ notices_sent: 0, webhook_sent: 0 });
    h.clock.advanceSeconds(1);
    const after = await h.manual(oomScan);
    expect(after.summary).toMatchObject({ notices_sent: 1, webhook_sent: 0 });
    expect(h.sim.kube.execs(p).filter((exec) => exec.argv.includes('/home/dev/OOM_DETECTED.txt'))).toHaveLength(
      writes + 1,
    );
    expect(posts).toEqual([]);
  });
});

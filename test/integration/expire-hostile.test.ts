/*
 * expire with rows and configuration a real fleet produces (issue 14): an id that cannot be a
 * label value in a batch of good ones, a pod name that now carries another reservation's label, a
 * row naming a namespace that does not exist, and a pod event from another namespace.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { expire } from '../../functions/expire/handler.js';
import { EventTypes } from '../../shared/events/types.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertReservation } from '../support/fixtures.js';

const h = useFunctionHarness();
const minutesFromNow = (minutes: number) => new Date(h.clock.now().getTime() + minutes * 60_000);
const HOSTILE = `ffff0000 "quoted" $(id) ${'x'.repeat(70)}`;

async function statusOf(id: string) {
  const { rows } = await h.deps.pool.query(
    'select status, failure_reason from reservations where reservation_id = $1',
    [id],
  );
  return rows[0] as { status: string; failure_reason: string | null };
}

async function active(
  id: string,
  options: { namespace?: string; pod?: 'labelled' | 'unlabelled' | 'none'; expiresInMinutes?: number } = {},
) {
  const namespace = options.namespace ?? 'gpu-dev';
  const podName = `gpu-dev-${id.slice(0, 8)}`;
  await insertReservation(h.deps.pool, {
    reservation_id: id,
    pod_name: podName,
    namespace,
    launched_at: minutesFromNow(-60),
    status_changed_at: minutesFromNow(-60),
    expires_at: minutesFromNow(options.expiresInMinutes ?? 120),
  });
  const pod = options.pod ?? 'labelled';
  if (pod !== 'none')
    h.sim.kube.addPod({ name: podName, namespace, ...(pod === 'labelled' && { labels: { 'reservation-id': id } }) });
  return podName;
}

async function missingNamespaceCount(namespace: string) {
  return (
    (await h.deps.metrics.podNamespaceMissing.get()).values.find((v) => v.labels.namespace === namespace)?.value ?? 0
  );
}

beforeEach(async () => {
  h.sim.faults.clear();
  h.sim.requests.clear();
  await h.deps.pool.query('delete from reservations');
  await h.deps.pool.query('delete from pod_observations');
  for (const pod of h.sim.kube.list('pods'))
    h.sim.kube.deleteBehindOurBack({ namespace: pod.metadata.namespace!, name: pod.metadata.name });
});

describe('expire: one id that cannot be a label value does not blind its batch', () => {
  it('still notices the dead and the deleted pods of the good ids, and judges the hostile one by name', async () => {
    const good = Array.from({ length: 6 }, (_, i) => `aaaa000${i}-0000-4000-8000-000000000000`);
    for (const id of good) await active(id);
    await active(HOSTILE, { pod: 'unlabelled' });
    for (const id of good.slice(0, 3)) h.sim.kube.evict({ namespace: 'gpu-dev', name: `gpu-dev-${id.slice(0, 8)}` });
    for (const id of good.slice(3, 5))
      h.sim.kube.deleteBehindOurBack({ namespace: 'gpu-dev', name: `gpu-dev-${id.slice(0, 8)}` });

    const first = await h.schedule(expire);
    expect(first.summary).toMatchObject({ failed_dead_pod: 3, pods_unknown: 0 });
    expect(
      h.sim.requests.all().filter((r) => r.path.endsWith('/pods') && r.query.get('labelSelector')?.includes('quoted')),
    ).toEqual([]);
    h.clock.advanceSeconds(61);
    const second = await h.schedule(expire);
    expect(second.summary).toMatchObject({ expired_pod_gone: 2, pods_unknown: 0 });
    for (const id of good.slice(0, 3)) expect((await statusOf(id)).status).toBe('failed');
    for (const id of good.slice(3, 5)) expect((await statusOf(id)).status).toBe('expired');
    expect((await statusOf(good[5]!)).status).toBe('active');
    expect((await statusOf(HOSTILE)).status).toBe('active');
  });

  it('a hostile id whose pod is definitely gone (404 in a namespace that exists) is expired after the usual confirmation', async () => {
    await active(HOSTILE, { pod: 'none' });
    await h.schedule(expire);
    expect((await statusOf(HOSTILE)).status).toBe('active');
    h.clock.advanceSeconds(61);
    expect((await h.schedule(expire)).summary.expired_pod_gone).toBe(1);
  });

  it("does NOT end a reservation whose pod name now carries another reservation's label", async () => {
    const podName = await active('bbbb0001-0000-4000-8000-000000000000', { pod: 'none' });
    h.sim.kube.addPod({ name: podName, namespace: 'gpu-dev', labels: { 'reservation-id': 'someone-else' } });
    h.sim.kube.evict({ namespace: 'gpu-dev', name: podName });
    for (let run = 0; run < 3; run++) {
      expect((await h.schedule(expire)).summary).toMatchObject({
        failed_dead_pod: 0,
        expired_pod_gone: 0,
        pods_unknown: 1,
      });
      h.clock.advanceSeconds(120);
    }
    expect((await statusOf('bbbb0001-0000-4000-8000-000000000000')).status).toBe('active');
  });
});

describe('expire: a 404 in a namespace that does not exist proves nothing', () => {
  it('does NOT expire a reservation whose row names a missing namespace, however often it runs, and counts it', async () => {
    await active('cccc0001-typo', { namespace: 'gpu-dev-typo', pod: 'none' });
    for (let run = 0; run < 4; run++) {
      expect((await h.schedule(expire)).summary).toMatchObject({ expired_pod_gone: 0, pods_unknown: 1 });
      h.clock.advanceSeconds(120);
    }
    expect((await statusOf('cccc0001-typo')).status).toBe('active');
    expect(await missingNamespaceCount('gpu-dev-typo')).toBeGreaterThanOrEqual(1);
    const { rows } = await h.deps.pool.query(
      `select last_error from pod_observations where reservation_id = 'cccc0001-typo'`,
    );
    expect(rows[0].last_error).toMatch(/namespace gpu-dev-typo does not exist/);
  });

  it('does NOT end a reservation on a pod-deleted event when its namespace does not exist', async () => {
    await active('cccc0002-typo', { namespace: 'gpu-dev-typo', pod: 'none' });
    const pod = {
      metadata: {
        name: 'gpu-dev-cccc0002',
        namespace: 'gpu-dev-typo',
        uid: 'u1',
        labels: { 'reservation-id': 'cccc0002-typo' },
      },
      status: { phase: 'Running' },
    };
    const result = await h.event(expire, {
      type: EventTypes.podDeleted,
      source: '/apis/v1/namespaces/gpu-dev-typo/pods',
      data: pod,
    } as never);
    expect(result.summary).toMatchObject({ expired_pod_gone: 0 });
    expect((await statusOf('cccc0002-typo')).status).toBe('active');
  });

  it("does NOT take a pod-deleted event from another namespace as evidence about the reservation's pod", async () => {
    await active('cccc0003-elsewhere', { pod: 'none' });
    const pod = {
      metadata: {
        name: 'gpu-dev-cccc0003',
        namespace: 'other-team',
        uid: 'u2',
        labels: { 'reservation-id': 'cccc0003-elsewhere' },
      },
      status: { phase: 'Running' },
    };
    const result = await h.event(expire, {
      type: EventTypes.podDeleted,
      source: '/apis/v1/namespaces/other-team/pods',
      data: pod,
    } as never);
    expect(result.summary).toMatchObject({ ignored_events: 1 });
    expect((await statusOf('cccc0003-elsewhere')).status).toBe('active');
  });
});

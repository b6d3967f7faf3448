/*
 * cleanup-pod's cost per teardown, counted where it is paid: Kubernetes calls at the simulator,
 * EC2 actions at the simulator, SQL statements at the pg client (BEGIN and COMMIT included, the
 * run's own bookkeeping too). Reads are shared across a sweep (one labelled listing per kind for
 * 50 reservations, one namespace read, one DescribeVolumes) and each step of the sweep is one
 * commit, so a sweep of 20 costs ≤ 6 calls and ≤ 4 statements per reservation.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupPod } from '../../functions/cleanup-pod/handler.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { seedEndedReservation, teardownOf } from './cleanup-pod-seed.js';
import type { EndedReservation } from './cleanup-pod-seed.js';

const h = useFunctionHarness();

let statements = 0;
const clientQuery = pg.Client.prototype.query;
beforeAll(() => {
  pg.Client.prototype.query = function countedQuery(this: pg.Client, ...args: unknown[]) {
    statements += 1;
    return (clientQuery as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof pg.Client.prototype.query;
});
afterAll(() => {
  pg.Client.prototype.query = clientQuery;
});

const kubeCalls = (from: number) =>
  h.sim.requests
    .all()
    .slice(from)
    .filter((q) => q.path.startsWith('/api/') || q.path.startsWith('/apis/'));

/** The delete run, the pod's grace period, the run that finishes: what the two runs cost. */
async function tearDown(seeded: EndedReservation[]) {
  const before = h.sim.requests.all().length;
  h.sim.aws.clear();
  const statementsBefore = statements;
  await h.schedule(cleanupPod);
  h.clock.advanceSeconds(31);
  h.sim.kube.tick();
  await h.schedule(cleanupPod);
  for (const r of seeded) expect(await teardownOf(h, r.id)).toMatchObject({ step: 'done' });
  return {
    calls: kubeCalls(before),
    statements: statements - statementsBefore,
    ec2: h.sim.aws
      .calls()
      .filter((c) => c.service === 'ec2')
      .map((c) => c.action),
  };
}

describe('cleanup-pod call budget', () => {
  it('tears down one reservation (labelled pod, origin-style ssh service, labelled service) in 12 Kubernetes calls, each object deleted once', async () => {
    const r = await seedEndedReservation(h, { volume: false });
    const { calls } = await tearDown([r]);
    const named = (q: { method: string; path: string }) =>
      `${q.method} ${q.path.replace(/^.*\/namespaces\/gpu-dev\/?/, '') || 'namespace'}`;
    expect(calls.map(named).sort()).toEqual(
      [
        // delete_resources: the three labelled listings, the unlabelled -ssh read by name, one delete per object
        'GET pods',
        `DELETE pods/${r.podName}`,
        'GET services',
        `GET services/${r.podName}-ssh`,
        `DELETE services/${r.podName}-web`,
        `DELETE services/${r.podName}-ssh`,
        'GET ingresses',
        // await_gone: not read in the run that deleted it; a 404 in the next, believed once the namespace is seen to exist
        `GET pods/${r.podName}`,
        'GET namespace',
        // verify: the three labelled listings
        'GET pods',
        'GET services',
        'GET ingresses',
      ].sort(),
    );
  });

  it('tears down a sweep of 20 in ≤ 6 Kubernetes calls and ≤ 4 SQL statements per reservation, with one DescribeVolumes', async () => {
    const seeded = [];
    for (let i = 0; i < 20; i++) seeded.push(await seedEndedReservation(h));
    const { calls, statements: sql, ec2 } = await tearDown(seeded);
    expect(calls.length / seeded.length).toBeLessThanOrEqual(6);
    expect(sql / seeded.length).toBeLessThanOrEqual(4);
    expect(ec2.filter((action) => action === 'DescribeVolumes')).toHaveLength(1);
    // Nothing is deleted twice and nothing is deleted by label: one DELETE per object, by name.
    const deletes = calls.filter((q) => q.method === 'DELETE').map((q) => q.path);
    expect(deletes).toHaveLength(3 * seeded.length);
    expect(new Set(deletes).size).toBe(deletes.length);
    expect(deletes.every((path) => !path.includes('?'))).toBe(true);
  });
});

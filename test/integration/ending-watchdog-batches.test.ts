/*
 * ending-watchdog at fleet scale (issue 18): labs go in batches, so a run's cost follows its
 * batches, not its labs. Counted where it is paid: SQL statements at the pg client (BEGIN and
 * COMMIT included) and Kubernetes calls at the simulator. A failed listing blinds only the labs it
 * concerns, and a batch whose final commit fails is retried by the kernel in halves that take back
 * their own lease, so one bad lab costs only itself.
 */
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { endingWatchdog } from '../../functions/ending-watchdog/handler.js';
import { BATCH_SIZE } from '../../functions/ending-watchdog/execute.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertLab } from '../support/fixtures.js';

const h = useFunctionHarness({ WATCHDOG_MAX_LABS: '200' });
const NAMESPACES = ['labs-a', 'labs-b'];
const KINDS = 3; // pods, services, ingresses: one labelled listing each

let statements = 0;
const texts: string[] = [];
const clientQuery = pg.Client.prototype.query;
beforeAll(() => {
  pg.Client.prototype.query = function countedQuery(this: pg.Client, ...args: unknown[]) {
    statements += 1;
    const first = args[0];
    texts.push(typeof first === 'string' ? first : String((first as { text?: string } | undefined)?.text ?? ''));
    return (clientQuery as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof pg.Client.prototype.query;
});
afterAll(() => {
  pg.Client.prototype.query = clientQuery;
});

beforeEach(async () => {
  h.sim.faults.clear();
  await h.deps.pool.query('delete from labs');
});

/** What of these labs' is still in the cluster, by kind. */
const left = (kind: 'pods' | 'services', labs: { id: string; namespace: string }[]) =>
  labs.filter((lab) =>
    h.sim.kube.list(kind, lab.namespace).some((object) => object.metadata.labels?.['lab-id'] === lab.id),
  );

/** `count` labs in ENDING for an hour, alternating namespaces, each with a labelled pod and service. */
async function endingLabs(count: number) {
  const since = new Date(h.clock.now().getTime() - 3_600_000);
  const labs = [];
  for (let index = 0; index < count; index++) {
    const namespace = NAMESPACES[index % NAMESPACES.length]!;
    const lab = await insertLab(h.deps.pool, {
      status: 'ending',
      status_changed_at: new Date(since.getTime() + index * 1000),
      ending_since: new Date(since.getTime() + index * 1000),
      namespace,
    });
    const labels = { 'lab-id': lab.id };
    h.sim.kube.addPod({ name: `lab-${lab.id.slice(0, 8)}-vm`, namespace, labels });
    h.sim.kube.addService({ name: `lab-${lab.id.slice(0, 8)}-vnc`, namespace, labels });
    labs.push({ id: lab.id, namespace });
  }
  return labs;
}

async function measuredRun() {
  const callsBefore = h.sim.requests.all().length;
  const statementsBefore = statements;
  texts.length = 0;
  const result = await h.schedule(endingWatchdog);
  const calls = h.sim.requests
    .all()
    .slice(callsBefore)
    .filter((q) => q.path.startsWith('/api/') || q.path.startsWith('/apis/'));
  return { result, calls, statements: statements - statementsBefore, texts: [...texts] };
}

const statuses = async (ids: string[]) =>
  (
    await h.deps.pool.query<{ status: string; claimed_by: string | null; watchdog_unknown_attempts: number }>(
      'select status, claimed_by, watchdog_unknown_attempts from labs where id = any($1::uuid[])',
      [ids],
    )
  ).rows;

describe('ending-watchdog in batches', () => {
  it('finishes 120 labs in 2 namespaces with statements per batch and listings per namespace, kind and batch', async () => {
    const idle = await measuredRun();
    expect(idle.result.summary.selected).toBe(0);
    const labs = await endingLabs(120);
    const { result, calls, statements: used, texts: ran } = await measuredRun();
    expect(result).toMatchObject({ outcome: 'succeeded', summary: { selected: 120, claimed: 120, finished: 120 } });
    expect(await statuses(labs.map((lab) => lab.id))).toEqual(
      labs.map(() => ({ status: 'finished', claimed_by: null, watchdog_unknown_attempts: 0 })),
    );
    expect(left('pods', labs)).toEqual([]);
    expect(left('services', labs)).toEqual([]);

    const batches = Math.ceil(120 / BATCH_SIZE);
    // Per batch two commits: the claim (BEGIN, one UPDATE, COMMIT) and the final one (BEGIN, every
    // final state in one statement, the decisions and events, COMMIT). Nothing per lab.
    expect(ran.filter((text) => /^begin$/i.test(text.trim()))).toHaveLength(2 * batches);
    expect(ran.filter((text) => /update labs set claimed_by/.test(text))).toHaveLength(batches);
    expect(ran.filter((text) => /update labs l set status/.test(text))).toHaveLength(batches);
    expect(used - idle.statements).toBeLessThanOrEqual(batches * 8);
    const listings = calls.filter((q) => q.method === 'GET' && q.query.has('labelSelector'));
    // Each batch holds labs of both namespaces: one listing per kind to delete, one to verify.
    expect(listings).toHaveLength(batches * NAMESPACES.length * KINDS * 2);
    const deletes = calls.filter((q) => q.method === 'DELETE');
    expect(deletes).toHaveLength(120 * 2); // each pod and each service, once
    expect(calls).toHaveLength(listings.length + deletes.length);
  });

  it('a failed listing in one namespace leaves only that namespace’s labs unknown', async () => {
    const labs = await endingLabs(20);
    h.sim.faults.add({ method: 'GET', path: /\/namespaces\/labs-b\/pods\?/, status: 500 });
    const { result } = await measuredRun();
    expect(result).toMatchObject({
      outcome: 'failed',
      summary: { selected: 20, claimed: 20, finished: 10, unknown: 10, failed: 0 },
    });
    const inA = labs.filter((lab) => lab.namespace === 'labs-a').map((lab) => lab.id);
    const inB = labs.filter((lab) => lab.namespace === 'labs-b').map((lab) => lab.id);
    expect(await statuses(inA)).toEqual(
      inA.map(() => ({ status: 'finished', claimed_by: null, watchdog_unknown_attempts: 0 })),
    );
    expect(await statuses(inB)).toEqual(
      inB.map(() => ({ status: 'ending', claimed_by: null, watchdog_unknown_attempts: 1 })),
    );
    expect(left('pods', labs)).toEqual(labs.filter((lab) => lab.namespace === 'labs-b'));
    expect(left('services', labs).every((lab) => lab.namespace === 'labs-b')).toBe(true);
  });

  it('a batch whose final commit fails is retried in halves that take back their own lease: only the bad lab is left', async () => {
    const labs = await endingLabs(8);
    const bad = labs[5]!.id;
    await h.deps.pool.query(`create function refuse_lab() returns trigger language plpgsql as $$
      begin raise exception 'refused by the test'; end $$`);
    await h.deps.pool.query(`create trigger refuse_lab before update of status on labs
      for each row when (new.id = '${bad}' and new.status = 'finished') execute function refuse_lab()`);
    try {
      const { result } = await measuredRun();
      expect(result).toMatchObject({ outcome: 'failed', summary: { finished: 7, actions_failed: 1 } });
    } finally {
      await h.deps.pool.query('drop trigger refuse_lab on labs; drop function refuse_lab()');
    }
    const others = labs.map((lab) => lab.id).filter((id) => id !== bad);
    expect(await statuses(others)).toEqual(
      others.map(() => ({ status: 'finished', claimed_by: null, watchdog_unknown_attempts: 0 })),
    );
    expect((await statuses([bad]))[0]!.status).toBe('ending');
  });
});

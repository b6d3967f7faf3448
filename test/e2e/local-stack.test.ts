/*
 * The local stack as `npm start` builds it (database given, simulated cluster, all six functions
 * behind the gateway on a free port), driven with curl-like requests: an expired reservation's
 * event travels through the outbox and the gateway to cleanup-pod, which tears it down.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../local/free-port.js';
import { startLocalStack } from '../../local/stack.js';
import type { LocalStack } from '../../local/stack.js';
import { useTestDatabase } from '../support/database.js';
import { insertReservation } from '../support/fixtures.js';
import { eventually } from '../support/eventually.js';

const db = useTestDatabase();
let stack: LocalStack;
const duringStartUp: Promise<{ status: number; retryAfter: string | null }>[] = [];
const steps: string[] = [];

beforeAll(async () => {
  const port = await freePort();
  const progress = (step: string) => {
    steps.push(step);
    if (steps.length === 1)
      duringStartUp.push(
        fetch(`http://127.0.0.1:${port}/system/functions`).then((answer) => ({
          status: answer.status,
          retryAfter: answer.headers.get('retry-after'),
        })),
      );
  };
  stack = await startLocalStack({
    env: { DATABASE_URL: db.url, SECRETS_DIR: '/nonexistent', LOG_LEVEL: 'silent' },
    port,
    demo: false,
    schedules: false,
    scheduleOverride: '*/2 * * * *',
    progress,
  });
});
afterAll(() => stack?.stop());

describe('local stack', () => {
  it('uses the simulator when no cluster is configured and serves every function', async () => {
    expect(stack.cluster.simulated).toBe(true);
    const list = (await (await fetch(`${stack.url}/system/functions`)).json()) as { name: string }[];
    expect(list.map((fn) => fn.name).sort()).toEqual([
      'cleanup-pod',
      'ending-watchdog',
      'expire',
      'extend',
      'oom-scan',
      'snapshot-sync',
      'warn',
    ]);
  });

  it('answers 503 with Retry-After while starting, and says each start-up step', async () => {
    expect(await Promise.all(duringStartUp)).toEqual([{ status: 503, retryAfter: '2' }]);
    expect(steps.map((step) => step.split(':')[0])).toEqual(['database', 'cluster', 'migrations']);
  });

  it('answers the /system routes the cron-connector and faas-cli read, from stack.yml', async () => {
    expect(await (await fetch(`${stack.url}/system/namespaces`)).json()).toEqual(['openfaas-fn']);
    const listed = (await (await fetch(`${stack.url}/system/functions?namespace=openfaas-fn`)).json()) as {
      name: string;
      annotations: Record<string, string>;
    }[];
    expect(listed.find((fn) => fn.name === 'warn')?.annotations).toMatchObject({
      topic: 'cron-function',
      schedule: '*/2 * * * *',
    });
    const described = await (await fetch(`${stack.url}/system/function/expire?namespace=openfaas-fn`)).json();
    expect(described).toMatchObject({
      name: 'expire',
      namespace: 'openfaas-fn',
      image: 'ghcr.io/devenv-lifecycle/expire:dev',
      secrets: ['devenv-lifecycle-db'],
      labels: { 'app.kubernetes.io/name': 'expire' },
    });
    const info = (await (await fetch(`${stack.url}/system/info`)).json()) as { provider: { orchestration: string } };
    expect(info.provider.orchestration).toBe('local');
  });

  it('refuses another namespace and names an unknown function instead of describing GET routes', async () => {
    expect((await fetch(`${stack.url}/system/functions?namespace=other`)).status).toBe(400);
    const missing = await fetch(`${stack.url}/system/function/nope`);
    expect([missing.status, await missing.text()]).toEqual([404, 'no function named nope in namespace openfaas-fn\n']);
    const unknown = await fetch(`${stack.url}/function/nope`, { method: 'POST', body: '{}' });
    expect([unknown.status, await unknown.text()]).toEqual([404, 'no function named nope in namespace openfaas-fn\n']);
    for (const path of ['/function/expire.other', '/function/expire?namespace=other']) {
      expect((await fetch(`${stack.url}${path}`, { method: 'POST', body: '{"dryRun":true}' })).status).toBe(404);
    }
    const namespaced = await fetch(`${stack.url}/function/expire.openfaas-fn?namespace=openfaas-fn`, {
      method: 'POST',
      body: '{"dryRun":true}',
    });
    expect(namespaced.status).toBe(200);
  });

  it('forwards GET to the function, as a real gateway does', async () => {
    const answer = await fetch(`${stack.url}/function/expire/healthz`);
    expect(await answer.json()).toEqual({ status: 'ok', function: 'expire' });
  });

  it('records which scheduler fired a run, and who called a manual one', async () => {
    const post = (headers: Record<string, string>, body = '') =>
      fetch(`${stack.url}/function/oom-scan`, { method: 'POST', headers, body });
    expect((await post({ 'x-connector': 'cron-connector', 'x-topic': 'cron-function' })).status).toBe(200);
    const ping = {
      'ce-specversion': '1.0',
      'ce-id': 'ping-1',
      'ce-type': 'dev.knative.sources.ping',
      'ce-source': '/apis/v1/namespaces/devenv-lifecycle/pingsources/oom-scan',
      'content-type': 'application/json',
    };
    expect((await post(ping, '{}')).status).toBe(200);
    expect(
      (await post({ 'user-agent': 'curl/8.5.0', 'content-type': 'application/json' }, '{"dryRun":true}')).status,
    ).toBe(200);
    const { rows } = await db.pool.query(
      `select trigger, source from function_runs where function = 'oom-scan' order by started_at`,
    );
    expect(rows).toEqual([
      { trigger: 'schedule', source: 'cron-connector' },
      { trigger: 'schedule', source: 'pingsource' },
      { trigger: 'manual', source: 'curl/8.5.0' },
    ]);
  });

  it('expires over HTTP and chains reservation.expired to cleanup-pod through the outbox', async () => {
    const id = 'e2e00001-0000-4000-8000-000000000001';
    // The pod is gone, in a namespace that exists: only then is its 404 proof of absence.
    if (stack.cluster.simulated) stack.cluster.sim.kube.addNamespace('gpu-dev');
    await insertReservation(db.pool, {
      reservation_id: id,
      expires_at: new Date(Date.now() - 10 * 60_000),
      pod_name: 'gpu-dev-e2e00001',
      namespace: 'gpu-dev',
    });
    const answer = await fetch(`${stack.url}/function/expire`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({ outcome: 'succeeded', summary: { expired: 1, events_delivered: 1 } });
    await eventually(
      async () =>
        (await db.pool.query(`select 1 from cleanup_progress where reservation_id = $1 and step = 'done'`, [id]))
          .rowCount === 1,
    );
    const finished = `select outcome, error from function_runs where function = 'cleanup-pod' and trigger = 'event' and finished_at is not null`;
    await eventually(async () => (await db.pool.query(finished)).rowCount === 1);
    expect((await db.pool.query(finished)).rows).toEqual([{ outcome: 'accepted', error: null }]);
    const inbox = await db.pool.query(`select type from event_inbox where consumer = 'cleanup-pod'`);
    expect(inbox.rows).toEqual([{ type: 'dev.devenv.lifecycle.reservation.expired' }]);
  });

  it('answers bad input with a problem naming the field', async () => {
    const answer = await fetch(`${stack.url}/function/ending-watchdog`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"olderThanMinutes":-5}',
    });
    expect(answer.status).toBe(400);
    expect(JSON.stringify(await answer.json())).toContain('olderThanMinutes');
  });
});

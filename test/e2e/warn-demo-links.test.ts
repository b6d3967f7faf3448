/*
 * The demo's warnings carry working action links (README, first minute): with no ACTION_BASE_URL
 * set, `npm start`'s demo points them at the local gateway's extend function. The 5-minute warning
 * in demo reservation 1's pod has an Extend link that GET only shows and POST acts on, once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../local/free-port.js';
import { demoReservations, podNameFor } from '../../local/demo-plan.js';
import { startLocalStack } from '../../local/stack.js';
import type { LocalStack } from '../../local/stack.js';
import { useTestDatabase } from '../support/database.js';

const db = useTestDatabase();
let stack: LocalStack;

beforeAll(async () => {
  const port = await freePort();
  stack = await startLocalStack({
    env: { DATABASE_URL: db.url, SECRETS_DIR: '/nonexistent', LOG_LEVEL: 'silent' },
    port,
    demo: true,
    schedules: false,
  });
}, 60_000);
afterAll(async () => {
  await stack?.stop();
});

describe('the demo warning carries working links', () => {
  it('an Extend link in the pod file: GET shows a page and changes nothing, POST extends once', async () => {
    if (!stack.cluster.simulated) throw new Error('the e2e test needs the simulated cluster');
    const first = demoReservations[0]!;
    const tick = await fetch(`${stack.url}/function/warn`, {
      method: 'POST',
      headers: { 'x-connector': 'cron-connector', 'x-topic': 'cron-function' },
    });
    expect(((await tick.json()) as { outcome: string }).outcome).toBe('succeeded');
    const pod = { namespace: 'gpu-dev', name: podNameFor(first.id) };
    const [file] = stack.cluster.sim.kube.listFiles(pod, '/home/dev').filter((name) => name.startsWith('WARN_'));
    const text = stack.cluster.sim.kube.readFile(pod, `/home/dev/${file!}`)!;
    const link = /Extend by 2h:\s+(\S+)/.exec(text)![1]!;
    expect(link.startsWith(`${stack.url}/function/extend/a/`)).toBe(true);
    // README's first minute finds it the same way, through the simulator's files endpoint.
    const files = await (
      await fetch(`${stack.cluster.sim.url}/_sim/pods/gpu-dev/${pod.name}/files?dir=/home/dev`)
    ).text();
    expect(files.match(/http:\/\/[^" ]*\/function\/extend\/a\/[A-Za-z0-9_.-]*/)?.[0]).toBe(link);
    const deadline = async () =>
      (
        await db.pool.query<{ expires_at: Date }>('select expires_at from reservations where reservation_id = $1', [
          first.id,
        ])
      ).rows[0]!.expires_at.getTime();
    const before = await deadline();

    const page = await fetch(link);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Extend reservation by 2h');
    expect(await deadline()).toBe(before);

    const acted = await fetch(link, { method: 'POST' });
    expect(acted.status).toBe(200);
    expect(await deadline()).toBe(before + 120 * 60_000);
    expect((await fetch(link, { method: 'POST' })).status).toBe(409);
  }, 60_000);
});

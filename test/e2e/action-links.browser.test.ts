/*
 * The action link of a real warning, opened in a real headless browser (Debian's chromium driven
 * by puppeteer-core): the page a GET shows changes nothing (link previewers and mail scanners
 * fetch URLs), its button extends the deadline once, and the same page's button pressed again in
 * a second tab is refused. The warning comes from warn ticked through the local stack; its
 * webhook JSON carries the link. Skipped, saying so, where no chromium is installed (.ci/run
 * installs it).
 */
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import puppeteer from 'puppeteer-core';
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../local/free-port.js';
import { startLocalStack } from '../../local/stack.js';
import type { LocalStack } from '../../local/stack.js';
import { ManualClock } from '../../shared/clock.js';
import { useTestDatabase } from '../support/database.js';
import { insertReservation } from '../support/fixtures.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available)
  console.warn(
    `action-links.browser.test.ts: skipped, no chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`,
  );

const db = useTestDatabase();
const clock = new ManualClock('2026-06-01T12:00:00Z');
const id = 'e2eb1001-0000-4000-8000-00000000b10b';
const pod = { namespace: 'gpu-dev', name: 'gpu-dev-e2eb1001' };

const notices: { actions: { action: string; url: string }[] }[] = [];
const webhook = http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    notices.push(JSON.parse(body) as (typeof notices)[number]);
    res.writeHead(204).end();
  });
});

let stack: LocalStack | undefined;
let browser: Browser | undefined;

beforeAll(async () => {
  if (!available) return;
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  const port = await freePort();
  const env = {
    DATABASE_URL: db.url,
    SECRETS_DIR: '/nonexistent',
    LOG_LEVEL: 'silent',
    WEBHOOK_URL: `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook`,
    ACTION_BASE_URL: `http://127.0.0.1:${port}/function/extend`,
    ACTION_SIGNING_KEY: 'browser-test-signing-key-0123456789abcdef',
  };
  stack = await startLocalStack({ env, port, demo: false, schedules: false, clock });
  if (!stack.cluster.simulated) throw new Error('the e2e test needs the simulated cluster');
  stack.cluster.sim.kube.addPod({ ...pod, labels: { 'reservation-id': id } });
  // Root in a container has no user namespaces for chromium's sandbox.
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  if (webhook.listening) await new Promise<void>((resolve) => webhook.close(() => resolve()));
});

async function deadline(): Promise<string> {
  const { rows } = await db.pool.query<{ expires_at: Date }>(
    'select expires_at from reservations where reservation_id = $1',
    [id],
  );
  return rows[0]!.expires_at.toISOString();
}

const textOf = (page: Page) => page.$eval('body', (body) => body.innerText);

/** Press the page's button; the answer to its POST, once the browser shows the page it returned. */
async function press(page: Page) {
  const before = await page.title();
  // A background tab neither takes clicks nor renders; bring it forward as a user would.
  await page.bringToFront();
  const [answer] = await Promise.all([
    page.waitForResponse((response) => response.request().method() === 'POST'),
    page.click('form button[type=submit]'),
  ]);
  // The result replaces the page at the same URL (a POST to itself); wait for its document.
  await page.waitForFunction(`document.readyState === 'complete' && document.title !== ${JSON.stringify(before)}`, {
    polling: 100,
  });
  return answer;
}

describe.skipIf(!available)('an action link in a headless browser', () => {
  it('shows a page that does not act; its button extends once; a second press is refused', async () => {
    await insertReservation(db.pool, {
      reservation_id: id,
      pod_name: pod.name,
      namespace: pod.namespace,
      expires_at: new Date('2026-06-01T12:20:00Z'),
      launched_at: new Date('2026-06-01T10:00:00Z'),
      status_changed_at: new Date('2026-06-01T10:00:00Z'),
    });
    const tick = await fetch(`${stack!.url}/function/warn`, {
      method: 'POST',
      headers: { 'x-connector': 'cron-connector', 'x-topic': 'cron-function' },
    });
    expect(await tick.json()).toMatchObject({ outcome: 'succeeded', summary: { warned: 1, webhook_sent: 1 } });
    const link = notices[0]!.actions.find((a) => a.action === 'extend')!.url;

    const first = await browser!.newPage();
    const second = await browser!.newPage();
    for (const page of [first, second]) {
      const response = await page.goto(link, { waitUntil: 'load' });
      expect(response!.status()).toBe(200);
      expect(await page.title()).toBe('Extend reservation by 2h?');
      expect(await textOf(page)).toContain('2026-06-01T12:20:00.000Z');
    }
    // Two page loads (and a previewer would be one more): nothing happened.
    expect(await deadline()).toBe('2026-06-01T12:20:00.000Z');

    const done = await press(first);
    expect(done.status()).toBe(200);
    expect(await first.title()).toBe('Done');
    expect(await deadline()).toBe('2026-06-01T14:20:00.000Z');

    const refused = await press(second);
    expect(refused.status()).toBe(409);
    expect(await second.title()).toBe('Not done');
    expect(await textOf(second)).toContain('Nothing was changed');
    expect(await deadline()).toBe('2026-06-01T14:20:00.000Z');
  }, 120_000);
});

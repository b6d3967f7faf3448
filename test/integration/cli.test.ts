import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRun, finishRun } from '../../shared/db/queries/runs.js';
import { invocationBody } from '../../local/cli-invoke.js';
import { CLI_BIN, runCli, useBuiltCli } from '../support/cli.js';
import type { NodeRun } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';

const db = useTestDatabase();
const requests: { url: string; body: string }[] = [];
let gatewayUrl = '';
const gateway = http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    requests.push({ url: req.url ?? '', body });
    const failing = req.url?.includes('broken');
    res
      .writeHead(failing ? 500 : 200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ outcome: failing ? 'failed' : 'succeeded' }));
  });
});

// The CLI as npm ci builds it: bin/ runs the sources through tsx instead while any source is newer than dist/cli.
const BUILT_CLI = useBuiltCli('cli-test');

beforeAll(async () => {
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
  gatewayUrl = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => gateway.close(() => resolve()));
});

const CONFIGURED = { DATABASE_URL: () => db.url, KUBE_API_SERVER: () => 'http://127.0.0.1:1' };

/** Runs the CLI with a database and a cluster configured, unless `unset` leaves them out; `cwd` is where it looks for a running local stack. */
async function cli(...args: string[]): Promise<NodeRun> {
  return cliWith({}, ...args);
}

function cliWith(
  how: { unset?: (keyof typeof CONFIGURED)[]; cwd?: string; entry?: string },
  ...args: string[]
): Promise<NodeRun> {
  const configured = Object.entries(CONFIGURED)
    .filter(([name]) => !how.unset?.includes(name as keyof typeof CONFIGURED))
    .map(([name, value]) => [name, value()]);
  return runCli(args, {
    entry: how.entry ?? BUILT_CLI,
    unset: ['DATABASE_URL', 'KUBE_API_SERVER', 'KUBECONFIG'],
    env: Object.fromEntries(configured) as Record<string, string>,
    cwd: how.cwd,
    timeoutMs: 30_000,
  });
}

describe('devenv-lifecycle CLI', () => {
  it('invokes a function through a gateway with the options as JSON, like faas-cli invoke', async () => {
    const result = await cli('invoke', 'expire', '--dry-run', '--max-items', '5', '--gateway', gatewayUrl);
    expect(result.code).toBe(0);
    expect(requests.at(-1)).toEqual({ url: '/function/expire', body: '{"dryRun":true,"maxItems":5}' });
    expect(result.stdout).toContain('"succeeded"');
  });

  it('exits non-zero with one line when the function answers an error', async () => {
    const result = await cli('invoke', 'broken', '--gateway', gatewayUrl);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it.each([
    [
      ['invoke', 'expire', '--max-items=0', '--gateway', 'http://127.0.0.1:1'],
      /--max-items must be a positive whole number/,
    ],
    [['invoke', 'expire', '--json', '[1]', '--gateway', 'http://127.0.0.1:1'], /--json must be a JSON object/],
    [['invoke', 'expire', '--bogus'], /Unknown option '--bogus'/],
    [['frobnicate'], /unknown command frobnicate/],
    [['runs', '--limit', 'lots'], /--limit must be a positive whole number/],
  ])('rejects %j with exit 2 and one readable line', async (args, message) => {
    const result = await cli(...args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('lists recent runs as a table', async () => {
    const id = '00000000-0000-4000-8000-000000000001';
    await startRun(db.pool, {
      id,
      fn: 'warn',
      trigger: 'schedule',
      dryRun: false,
      startedAt: new Date('2026-06-01T12:00:00Z'),
    });
    await finishRun(db.pool, id, {
      outcome: 'succeeded',
      counts: { warned: 3 },
      finishedAt: new Date('2026-06-01T12:00:02Z'),
    });
    const result = await cli('runs', '--fn', 'warn');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/STARTED \(UTC\)\s+FUNCTION/);
    expect(result.stdout).toMatch(/2026-06-01 12:00:00\s+warn\s+schedule\s+succeeded\s+2\.0\s+warned=3/);
  });

  it('runs a function in process when no gateway is given, against the configured database', async () => {
    const result = await cli('invoke', 'ending-watchdog', '--dry-run', '--json', '{"olderThanMinutes":45}');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ outcome: 'succeeded', summary: { selected: 0 } });
    const { rows } = await db.pool.query(
      `select source from function_runs where function = 'ending-watchdog' and trigger = 'manual'`,
    );
    expect(rows).toContainEqual({ source: 'devenv-lifecycle-cli' });
  });

  it('names the unknown function and the bad option of an in-process call', async () => {
    expect((await cli('invoke', 'nope')).stderr).toMatch(/unknown function nope/);
    const bad = await cli('invoke', 'ending-watchdog', '--json', '{"maxLabs":-1}');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/maxLabs/);
  });

  it('takes the OctoLab watchdog flags and refuses a negative age (B-12)', async () => {
    const ok = await cli(
      'ending-watchdog',
      '--older-than-minutes',
      '45',
      '--max-labs',
      '5',
      '--action',
      'fail',
      '--dry-run',
    );
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ outcome: 'succeeded', summary: { selected: 0 } });
    const bad = await cli('ending-watchdog', '--older-than-minutes=-5');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/olderThanMinutes/);
  });

  it.each([
    ['--help'],
    ['-h'],
    ['help'],
    ['help', 'runs'],
    ['runs', '--help'],
    ['invoke', '-h'],
    ['migrate', '--help'],
    ['ending-watchdog', '--help'],
  ])('answers %j with its usage and exit 0', async (...args) => {
    const result = await cli(...args);
    expect([result.code, result.stderr]).toEqual([0, '']);
    expect(result.stdout).toMatch(/^usage: devenv-lifecycle /);
  });

  it('names KUBECONFIG when an in-process run has no cluster and no local stack is running', async () => {
    const result = await cliWith(
      { unset: ['KUBE_API_SERVER'], cwd: mkdtempSync(join(tmpdir(), 'no-stack-')) },
      'invoke',
      'expire',
      '--dry-run',
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error: no Kubernetes API configured: set KUBECONFIG/);
  });

  it('finds the running local stack of the checkout it runs from, without variables', async () => {
    const checkout = mkdtempSync(join(tmpdir(), 'checkout-'));
    mkdirSync(join(checkout, '.data'));
    const state = (pid: number) => JSON.stringify({ pid, gateway: gatewayUrl, env: { DATABASE_URL: db.url } });
    writeFileSync(join(checkout, '.data', 'local-stack.json'), state(process.pid));
    const id = '00000000-0000-4000-8000-0000000000a1';
    await startRun(db.pool, {
      id,
      fn: 'oom-scan',
      trigger: 'manual',
      dryRun: false,
      startedAt: new Date('2026-06-02T08:00:00Z'),
    });
    const found = await cliWith({ unset: ['DATABASE_URL'], cwd: checkout }, 'runs', '--fn', 'oom-scan');
    expect(found.code, found.stderr).toBe(0);
    expect(found.stdout).toMatch(/2026-06-02 08:00:00\s+oom-scan/);
    // A stack that has stopped without removing its file (killed) is not used.
    writeFileSync(join(checkout, '.data', 'local-stack.json'), state(2 ** 22 + 7));
    const stale = await cliWith({ unset: ['DATABASE_URL'], cwd: checkout }, 'runs');
    expect(stale.code).not.toBe(0);
  });

  it('prints only the non-zero counters, by name', async () => {
    const id = '00000000-0000-4000-8000-0000000000b1';
    await startRun(db.pool, {
      id,
      fn: 'snapshot-sync',
      trigger: 'manual',
      source: 'curl/8.5.0',
      dryRun: false,
      startedAt: new Date('2026-06-03T09:00:00Z'),
    });
    await finishRun(db.pool, id, {
      outcome: 'succeeded',
      counts: { polled: 2, failed: 0, created: 1, deleted: 0, adopted: 3 },
      finishedAt: new Date('2026-06-03T09:00:01Z'),
    });
    const result = await cli('runs', '--fn', 'snapshot-sync');
    expect(result.stdout).toMatch(/manual \(curl\/8\.5\.0\)\s+succeeded\s+1\.0\s+adopted=3 created=1 polled=2\s*$/m);
  });

  it('migrates from the build, finding the migrations beside the sources', async () => {
    const migrate = await cli('migrate');
    expect(migrate.code, migrate.stderr).toBe(0);
  });

  it('bin/devenv-lifecycle.mjs answers, built or (a source edited since the build) from the sources', async () => {
    const help = await cliWith({ entry: CLI_BIN }, '--help');
    expect([help.code, help.stdout]).toEqual([0, expect.stringMatching(/^usage: devenv-lifecycle/)]);
  }, 60_000);

  it('merges --json with the flags', () => {
    expect(invocationBody({ fn: 'x', dryRun: true, json: '{"labId":"a"}', maxItems: '2' })).toEqual({
      labId: 'a',
      dryRun: true,
      maxItems: 2,
    });
  });
});

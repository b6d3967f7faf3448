/*
 * The local stack as the real OpenFaaS tools meet it: upstream faas-cli 0.17.6 lists, describes,
 * invokes (JSON, text/plain, async) and reads the version; the upstream cron-connector discovers
 * every function stack.yml schedules and fires each on its schedule. Skipped, saying so, when the
 * tools are not on this machine (OPENFAAS_TOOLS_DIR, default ../shared/tools/openfaas).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { faasCli, scheduledFunctions, startConnector, startStack, TOOLS_DIR, toolsPresent } from './tools.js';
import type { RunningStack } from './tools.js';

if (!toolsPresent)
  console.log(`conformance: SKIPPED, no faas-cli and cron-connector in ${TOOLS_DIR} (set OPENFAAS_TOOLS_DIR)`);

// A 5-field schedule, as CE's connector takes, that fires within a minute of the tier starting.
const EVERY_MINUTE = '* * * * *';

describe.skipIf(!toolsPresent)('the real OpenFaaS tools against the local stack', () => {
  let stack: RunningStack;
  const gateway = () => ['--gateway', stack.url];

  beforeAll(async () => {
    stack = await startStack(EVERY_MINUTE);
  });
  afterAll(() => stack?.stop());

  it('stack.yml schedules functions for the connector to find', () => {
    expect(scheduledFunctions.length).toBeGreaterThan(0);
  });

  it('faas-cli list shows every scheduled function', async () => {
    const result = await faasCli(['list', ...gateway()]);
    expect(result.code, result.stderr).toBe(0);
    const listed = result.stdout
      .split('\n')
      .slice(1)
      .map((line) => line.split(/\s+/)[0]);
    expect(listed).toEqual(expect.arrayContaining(scheduledFunctions));
  });

  it('faas-cli describe shows each function with its schedule', async () => {
    for (const fn of scheduledFunctions) {
      const result = await faasCli(['describe', fn, ...gateway()]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`^Name:\\s+${fn}$`, 'm'));
      expect(result.stdout).toMatch(/^ schedule: /m);
    }
  });

  it('faas-cli invoke sends the options as text/plain (its default) and as JSON', async () => {
    for (const contentType of [[], ['--content-type', 'application/json']]) {
      const result = await faasCli(['invoke', 'expire', ...contentType, ...gateway()], '{"dryRun":true}');
      expect(result.code, result.stderr).toBe(0);
      // faas-cli prints a note about its missing auth config before the answer.
      expect(JSON.parse(result.stdout.slice(result.stdout.indexOf('{')))).toMatchObject({
        function: 'expire',
        trigger: 'manual',
        outcome: 'succeeded',
      });
    }
    expect(await countRuns(stack, `function = 'expire' and trigger = 'manual' and dry_run`)).toBe(2);
  });

  it('faas-cli invoke --async is accepted and the run happens', async () => {
    const before = await invocations(stack.url, 'warn');
    const result = await faasCli(['invoke', 'warn', '--async', ...gateway()], '{"dryRun":true}');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr + result.stdout).toContain('Function submitted asynchronously');
    expect(await invocations(stack.url, 'warn')).toBe(before + 1);
    await until(
      async () =>
        (await countRuns(stack, `function = 'warn' and trigger = 'manual' and dry_run and finished_at is not null`)) >=
        1,
      'the async warn run',
    );
  });

  it('faas-cli version names the gateway and its provider', async () => {
    const result = await faasCli(['version', '--warn-update=false', ...gateway()]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`uri:\\s+${stack.url.replace(/[.]/g, '\\.')}`));
    expect(result.stdout).toMatch(/orchestration:\s+local/);
  });

  it('the cron-connector discovers every scheduled function and fires each on its schedule', async () => {
    const connector = startConnector(stack.url);
    try {
      await until(
        async () =>
          scheduledFunctions.every((fn) => connector.log().includes(`Added: ${fn}.openfaas-fn [${EVERY_MINUTE}]`)),
        'discovery',
        20_000,
        connector.log,
      );
      await until(
        async () => scheduledFunctions.every((fn) => new RegExp(`Response: ${fn} \\[200\\]`).test(connector.log())),
        'a tick answered 200 for every function',
        90_000,
        connector.log,
      );
      const ticked = await stackRuns(stack, `trigger = 'schedule' and source = 'cron-connector'`);
      expect([...new Set(ticked)].sort()).toEqual([...scheduledFunctions].sort());
    } finally {
      await connector.stop();
    }
  });
});

async function invocations(url: string, fn: string): Promise<number> {
  const answer = await fetch(`${url}/system/function/${fn}`);
  return ((await answer.json()) as { invocationCount: number }).invocationCount;
}

async function stackRuns(stack: RunningStack, where: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: stack.database.url('postgres') });
  await client.connect();
  try {
    return (await client.query<{ function: string }>(`select function from function_runs where ${where}`)).rows.map(
      (row) => row.function,
    );
  } finally {
    await client.end();
  }
}

async function countRuns(stack: RunningStack, where: string): Promise<number> {
  return (await stackRuns(stack, where)).length;
}

async function until(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
  detail: () => string = () => '',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${what} not reached within ${timeoutMs} ms\n${detail()}`);
}

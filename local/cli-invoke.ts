/*
 * `devenv-lifecycle invoke <fn>` against a gateway, like `faas-cli invoke`: the options go as a
 * JSON body, the answer is printed as it came, and a non-2xx answer exits non-zero.
 */
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../shared/config.js';
import { Invalid } from '../shared/errors.js';
import { requireCluster } from './cli-env.js';

/** How the runs table names a run this CLI started in its own process. */
const CLI_CALLER = 'devenv-lifecycle-cli';

export interface InvokeArgs {
  fn: string;
  dryRun: boolean;
  maxItems?: string;
  json?: string;
}

export function invocationBody(args: InvokeArgs): Record<string, unknown> {
  let body: Record<string, unknown> = {};
  if (args.json !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(args.json);
    } catch {
      throw new Invalid('--json is not valid JSON', [{ field: '--json', message: 'must be a JSON object' }]);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new Invalid('--json must be a JSON object', [{ field: '--json', message: 'must be a JSON object' }]);
    }
    body = parsed as Record<string, unknown>;
  }
  if (args.dryRun) body.dryRun = true;
  if (args.maxItems !== undefined) {
    const maxItems = Number(args.maxItems);
    if (!Number.isInteger(maxItems) || maxItems <= 0) {
      throw new Invalid('--max-items must be a positive whole number', [
        { field: '--max-items', message: 'must be a positive whole number' },
      ]);
    }
    body.maxItems = maxItems;
  }
  return body;
}

export async function invokeThroughGateway(gateway: string, args: InvokeArgs): Promise<{ ok: boolean; text: string }> {
  const url = `${gateway.replace(/\/+$/, '')}/function/${encodeURIComponent(args.fn)}`;
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': `${CLI_CALLER}/gateway` },
    body: JSON.stringify(invocationBody(args)),
  });
  return { ok: response.ok, text: await response.text() };
}

/**
 * Run the function in this process against the configured database and cluster (the same
 * configuration the function reads when deployed), as a manual invocation.
 */
export async function invokeInProcess(
  args: InvokeArgs,
  env: Record<string, string | undefined>,
): Promise<{ ok: boolean; text: string }> {
  // Loaded here: the functions and their clients are most of the CLI, and only this path needs them.
  const [{ allFunctions }, { makeDeps }] = await Promise.all([
    import('../functions/index.js'),
    import('../shared/deps.js'),
  ]);
  const fn = allFunctions.find((candidate) => candidate.name === args.fn);
  if (!fn)
    throw new Invalid(`unknown function ${args.fn}; one of ${allFunctions.map((f) => f.name).join(', ')}`, [
      { field: 'fn', message: 'unknown' },
    ]);
  const parsed = fn.optionsSchema.safeParse(invocationBody(args));
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => ({
      field: issue.path.join('.') || '(options)',
      message: issue.message,
    }));
    throw new Invalid(`invalid options: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`, issues);
  }
  requireCluster(env);
  const deps = makeDeps(loadConfig(env));
  try {
    const result = await fn.handle(
      { kind: 'manual', callId: randomUUID(), options: parsed.data, caller: CLI_CALLER },
      deps,
    );
    return { ok: result.outcome !== 'failed', text: JSON.stringify(result) };
  } finally {
    await deps.close();
  }
}

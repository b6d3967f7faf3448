/*
 * devenv-lifecycle preview <fn> --set KEY=VALUE… [--json]: what the function would do now with the
 * changed settings that it does not do with the current ones ("would force 3", then the entities),
 * and what it would stop doing. Runs load and decide only, against the configured database and
 * cluster; changes nothing.
 */
import { parseArgs } from 'node:util';
import { EnvSchema, loadConfig } from '../shared/config.js';
import { Invalid } from '../shared/errors.js';
import type { Preview, PreviewedAction } from '../shared/runtime/rails/preview.js';
import { checkFunctionName } from './cli-breaker.js';
import { cliEnvironment, requireCluster } from './cli-env.js';

export interface PreviewArgs {
  fn: string;
  settings: Record<string, string>;
  json: boolean;
}

export function parsePreviewArgs(args: string[]): PreviewArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { set: { type: 'string', multiple: true }, json: { type: 'boolean', default: false } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new Invalid((err as Error).message, [{ field: 'arguments', message: (err as Error).message }]);
  }
  const fn = checkFunctionName(parsed.positionals[0]);
  const sets = parsed.values.set ?? [];
  if (sets.length === 0)
    throw new Invalid('preview needs at least one --set KEY=VALUE, e.g. --set GRACE_PERIOD_SECONDS=0', [
      { field: '--set', message: 'required' },
    ]);
  const settings: Record<string, string> = {};
  for (const set of sets) {
    const at = set.indexOf('=');
    const key = at > 0 ? set.slice(0, at) : '';
    if (!(key in EnvSchema.shape))
      throw new Invalid(
        `--set ${set}: ${key ? `unknown setting ${key}` : 'must be KEY=VALUE'} (the settings are listed in the README's Configuration section)`,
        [{ field: '--set', message: 'unknown setting' }],
      );
    settings[key] = set.slice(at + 1);
  }
  return { fn, settings, json: parsed.values.json === true };
}

function describe(action: PreviewedAction): string {
  const detail = action.item
    ? Object.entries(action.item)
        .map(([key, value]) => `${key}=${String(value)}`)
        .join(' ')
    : `${action.entity.kind} ${action.entity.id}`;
  return `  ${action.step ? `[${action.step}] ` : ''}${detail}: ${action.reason}`;
}

function grouped(verb: string, actions: PreviewedAction[]): string[] {
  const byKind = new Map<string, PreviewedAction[]>();
  for (const action of actions) byKind.set(action.kind, [...(byKind.get(action.kind) ?? []), action]);
  return [...byKind].flatMap(([kind, list]) => [`${verb} ${kind} ${list.length}`, ...list.map(describe)]);
}

export function formatPreview(preview: Preview, settings: Record<string, string>): string {
  const changed = Object.entries(settings)
    .map(([key, value]) => `${key}=${value}`)
    .join(' ');
  const lines = [`${preview.fn} at ${preview.at} with ${changed}, compared with the current settings:`];
  if (preview.added.length === 0 && preview.dropped.length === 0)
    lines.push(`no difference (${preview.unchanged} action(s) either way)`);
  lines.push(...grouped('would', preview.added), ...grouped('would no longer', preview.dropped));
  if (preview.unchanged > 0 && (preview.added.length > 0 || preview.dropped.length > 0))
    lines.push(`(${preview.unchanged} action(s) the same either way)`);
  lines.push(...preview.notes.map((note) => `note: ${note}`));
  return `${lines.join('\n')}\n`;
}

export async function preview(argv: string[]): Promise<void> {
  const args = parsePreviewArgs(argv);
  const env = cliEnvironment();
  const current = loadConfig(env);
  const changed = loadConfig({ ...env, ...args.settings });
  const [{ allFunctions }, { makeDeps }, { kernelFunction, previewPolicy }] = await Promise.all([
    import('../functions/index.js'),
    import('../shared/deps.js'),
    import('../shared/runtime/rails/preview.js'),
  ]);
  const fn = kernelFunction(allFunctions.find((candidate) => candidate.name === args.fn)!);
  requireCluster(env);
  const deps = makeDeps(current);
  try {
    const result = await previewPolicy(fn, deps, changed);
    process.stdout.write(
      args.json
        ? `${JSON.stringify({ ...result, settings: args.settings }, null, 2)}\n`
        : formatPreview(result, args.settings),
    );
  } finally {
    await deps.close();
  }
}

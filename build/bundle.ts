/*
 * `npm run build`: bundle each function with esbuild into dist/openfaas/<fn>/handler.js plus the
 * package.json the node22 template expects (its Dockerfile runs `npm i` and `npm test` in the
 * handler folder), so the unmodified template builds the image. One self-contained file per
 * function: no node_modules in the image beyond the template's own, and a fast start.
 */
import { existsSync } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { BuildOptions, Plugin } from 'esbuild';
import { FUNCTION_NAMES } from '../shared/runtime/invocation.js';
import type { FunctionName } from '../shared/runtime/invocation.js';

export const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const POD_WATCH_ENTRY = 'pod-watch/main.ts';

export interface BundleResult {
  name: string;
  file: string;
  bytes: number;
}

// The image's runtime (node:22-alpine). Optional native add-ons of pg and ws stay out: both
// fall back to JavaScript when they are missing. Minified because start-up time is mostly
// parsing; names are kept so logged errors still say which class they are.
const common: BuildOptions = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node22',
  minify: true,
  keepNames: true,
  legalComments: 'linked',
  external: ['pg-native', 'bufferutil', 'utf-8-validate'],
  logLevel: 'error',
};

/** `functions/cleanup-pod/handler.ts` exports `cleanupPod`. */
export function exportNameOf(fn: FunctionName): string {
  return fn.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

/** The CommonJS module the template requires: `module.exports = handle(event, context)`. */
function functionEntry(fn: FunctionName): string {
  return [
    `const { openfaasEntry } = require('./build/openfaas-entry.ts');`,
    `const { ${exportNameOf(fn)} } = require('./functions/${fn}/handler.ts');`,
    `module.exports = openfaasEntry(${exportNameOf(fn)});`,
  ].join('\n');
}

/**
 * pod-watch is a long-running source, not a function. In the node22 image it starts when the
 * template loads handler.js (one replica, never scaled to zero) and answers invocations with 404:
 * there is nothing to invoke. Its own health and metrics are on POD_WATCH_PORT.
 */
function podWatchEntry(): string {
  const problem = JSON.stringify({ title: 'pod-watch is an event source', status: 404, detail: 'it takes no invocations; see /healthz on POD_WATCH_PORT' });
  return [
    `require('./${POD_WATCH_ENTRY}');`,
    `module.exports = async (event, context) => context.status(404).headers({ 'content-type': 'application/problem+json' }).succeed(${JSON.stringify(problem)});`,
  ].join('\n');
}

function packageJson(name: string): string {
  const description = `devenv-lifecycle ${name} for the OpenFaaS node22 template (bundled; no dependencies)`;
  // The template's Dockerfile runs `npm test` in this folder; the tests ran before bundling.
  return `${JSON.stringify({ name: `devenv-lifecycle-${name}`, version: '1.0.0', private: true, description, main: 'handler.js', scripts: { test: 'exit 0' } }, null, 2)}\n`;
}

// Each bundle's entry is generated; one esbuild run builds them all, parsing shared code once.
function virtualEntries(entries: Map<string, string>): Plugin {
  return {
    name: 'devenv-entries',
    setup(build) {
      build.onResolve({ filter: /^entry:/ }, (args) => ({ path: args.path.slice('entry:'.length), namespace: 'entry' }));
      build.onLoad({ filter: /.*/, namespace: 'entry' }, (args) => ({ contents: entries.get(args.path), resolveDir: ROOT, loader: 'js' }));
    },
  };
}

/** Bundle the six functions (and the pod-watch source once it exists) into `outDir`. */
export async function bundleAll(outDir = join(ROOT, 'dist', 'openfaas'), only?: readonly string[]): Promise<BundleResult[]> {
  const entries = new Map<string, string>(FUNCTION_NAMES.map((fn) => [fn, functionEntry(fn)]));
  if (existsSync(join(ROOT, POD_WATCH_ENTRY))) entries.set('pod-watch', podWatchEntry());
  const names = [...entries.keys()].filter((name) => !only || only.includes(name));
  await build({
    ...common,
    entryPoints: names.map((name) => ({ in: `entry:${name}`, out: `${name}/handler` })),
    outdir: outDir,
    plugins: [virtualEntries(entries)],
  });
  return Promise.all(names.map(async (name) => {
    const file = join(outDir, name, 'handler.js');
    await writeFile(join(outDir, name, 'package.json'), packageJson(name));
    return { name, file, bytes: (await stat(file)).size };
  }));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const results = await bundleAll(process.argv[2] ? resolve(process.argv[2]) : undefined);
  for (const { name, file, bytes } of results) console.log(`${name.padEnd(16)} ${(bytes / 1024 / 1024).toFixed(2)} MB  ${file}`);
}

/*
 * `npm run build`: bundle each function with esbuild into dist/openfaas/<fn>/handler.js plus the
 * package.json the node22 template expects (its Dockerfile runs `npm i` and `npm test` in the
 * handler folder), so the unmodified template builds the image. One self-contained file per
 * function: no node_modules in the image beyond the template's own, and a fast start.
 */
import { existsSync } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { BuildOptions } from 'esbuild';
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

function packageJson(name: string): string {
  const description = name === 'pod-watch'
    ? 'devenv-lifecycle pod-watch source (bundled; no dependencies)'
    : `devenv-lifecycle ${name} function for the OpenFaaS node22 template (bundled; no dependencies)`;
  // The template's Dockerfile runs `npm test` in this folder; the tests ran before bundling.
  return `${JSON.stringify({ name: `devenv-lifecycle-${name}`, version: '1.0.0', private: true, description, main: 'handler.js', scripts: { test: 'exit 0' } }, null, 2)}\n`;
}

async function bundleOne(outDir: string, name: string, contents: string, fileName: string): Promise<BundleResult> {
  const folder = join(outDir, name);
  await mkdir(folder, { recursive: true });
  const file = join(folder, fileName);
  await build({ ...common, stdin: { contents, resolveDir: ROOT, sourcefile: `${name}-entry.js`, loader: 'js' }, outfile: file });
  await writeFile(join(folder, 'package.json'), packageJson(name));
  return { name, file, bytes: (await stat(file)).size };
}

/** Bundle the six functions (and the pod-watch source once it exists) into `outDir`. */
export async function bundleAll(outDir = join(ROOT, 'dist', 'openfaas'), only?: readonly string[]): Promise<BundleResult[]> {
  const wanted = (name: string) => !only || only.includes(name);
  const jobs = FUNCTION_NAMES.filter(wanted).map((fn) => bundleOne(outDir, fn, functionEntry(fn), 'handler.js'));
  if (wanted('pod-watch') && existsSync(join(ROOT, POD_WATCH_ENTRY))) {
    jobs.push(bundleOne(outDir, 'pod-watch', `require('./${POD_WATCH_ENTRY}');`, 'main.js'));
  }
  return Promise.all(jobs);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const results = await bundleAll(process.argv[2] ? resolve(process.argv[2]) : undefined);
  for (const { name, file, bytes } of results) console.log(`${name.padEnd(16)} ${(bytes / 1024 / 1024).toFixed(2)} MB  ${file}`);
}

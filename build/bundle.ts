/*
 * `npm run build`: bundle each function with esbuild into dist/openfaas/<fn>/ — handler.js, the
 * module the node22 template requires at start-up, its chunks in chunks/, and the package.json the
 * template expects (its Dockerfile runs `npm i` and `npm test` in the handler folder and copies the
 * whole folder), so the unmodified template builds the image. No node_modules in the image beyond
 * the template's own.
 *
 * Start-up is mostly parsing, so a function parses at start only what answers a health check and
 * parses a request: the AWS SDK and @kubernetes/client-node sit behind `import()` (shared/aws/lazy.ts,
 * shared/kube/index.ts), and esbuild's code splitting puts each such import in its own chunk, read
 * on the first call that needs it. Splitting is an ES module feature; every output is then turned
 * into CommonJS (static imports become require, `import()` a deferred require), which the template's
 * `require('./function/handler')` loads on any Node version.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, transform } from 'esbuild';
import type { BuildOptions, Metafile, OutputFile, Plugin } from 'esbuild';
import { FUNCTION_NAMES } from '../shared/runtime/invocation.js';
import type { FunctionName } from '../shared/runtime/invocation.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const POD_WATCH_ENTRY = 'pod-watch/main.ts';

export interface BundleResult {
  name: string;
  /** handler.js: what the template requires. */
  file: string;
  /** Every JavaScript file of the bundle, and their bytes. */
  files: string[];
  bytes: number;
  /** handler.js and the chunks it requires before answering anything. */
  startFiles: string[];
  startBytes: number;
  /** Source files (relative to the root) whose code is in the bundle, and those of them in startFiles. */
  inputs: string[];
  startInputs: string[];
  /** Bytes each source contributes to the files read at start-up (esbuild's bytesInOutput). */
  startInputBytes: Record<string, number>;
}

// The image's runtime (node:22-alpine). Optional native add-ons of pg and ws stay out: both
// fall back to JavaScript when they are missing. Minified because start-up time is mostly
// parsing. Names are kept in the project's own code (ownNames), not in the libraries': esbuild's
// keepNames defines `name` on every function and class of every library at start-up.
const common: BuildOptions = {
  bundle: true,
  platform: 'node',
  // The ES module builds first: esbuild can drop what a bundle never calls (most of the AWS SDK
  // clients and client-node's generated API classes), which the single-file CommonJS builds defeat.
  mainFields: ['module', 'main'],
  format: 'esm',
  splitting: true,
  entryNames: '[name]',
  chunkNames: 'chunks/[name]-[hash]',
  target: 'node22',
  minify: true,
  legalComments: 'external',
  external: ['pg-native', 'bufferutil', 'utf-8-validate'],
  // client-node's fetch (node-fetch → whatwg-url, tr46) requires `punycode`, which resolves to
  // Node's own module: deprecated, it prints DEP0040 in every function process on node 22. The
  // package of the same name (the one Node's module was copied from) is bundled instead.
  alias: { punycode: 'punycode/' },
  metafile: true,
  write: false,
  logLevel: 'error',
};

/** `functions/cleanup-pod/handler.ts` exports `cleanupPod`. */
function exportNameOf(fn: FunctionName): string {
  return fn.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

/**
 * The module the template requires: its default export becomes `module.exports = handle(event, context)`.
 * The function's own module is imported on the first request that needs it, so it is a chunk of its own.
 */
function functionEntry(fn: FunctionName): string {
  return [
    `import { openfaasEntry } from './build/openfaas-entry.ts';`,
    `export default openfaasEntry(${JSON.stringify(fn)}, () => import('./functions/${fn}/handler.ts').then((module) => module.${exportNameOf(fn)}));`,
  ].join('\n');
}

/**
 * pod-watch is a long-running source, not a function. In the node22 image it starts when the
 * template loads handler.js (one replica, never scaled to zero) and answers invocations with 404:
 * there is nothing to invoke. Its own health and metrics are on POD_WATCH_PORT.
 */
function podWatchEntry(): string {
  const problem = JSON.stringify({
    title: 'pod-watch is an event source',
    status: 404,
    detail: 'it takes no invocations; see /healthz on POD_WATCH_PORT',
  });
  return [
    `import './${POD_WATCH_ENTRY}';`,
    `export default async (event, context) => context.status(404).headers({ 'content-type': 'application/problem+json' }).succeed(${JSON.stringify(problem)});`,
  ].join('\n');
}

function packageJson(name: string): string {
  const description = `devenv-lifecycle ${name} for the OpenFaaS node22 template (bundled; no dependencies)`;
  // The template's Dockerfile runs `npm test` in this folder; the tests ran before bundling.
  return `${JSON.stringify({ name: `devenv-lifecycle-${name}`, version: '1.0.0', private: true, description, main: 'handler.js', scripts: { test: 'exit 0' } }, null, 2)}\n`;
}

// Each bundle's entry is generated by name.
function virtualEntries(entries: Map<string, string>): Plugin {
  return {
    name: 'devenv-entries',
    setup(build) {
      build.onResolve({ filter: /^entry:/ }, (args) => ({
        path: args.path.slice('entry:'.length),
        namespace: 'entry',
      }));
      build.onLoad({ filter: /.*/, namespace: 'entry' }, (args) => ({
        contents: entries.get(args.path),
        resolveDir: ROOT,
        loader: 'js',
      }));
    },
  };
}

/**
 * zod's `z` and `z.core` namespaces re-export every locale (`z.locales`), over a quarter of what a function
 * parses at start-up. Nothing here sets a locale, and zod itself only uses English (its default,
 * imported on its own), so the namespace keeps English alone.
 */
const zodEnglishOnly: Plugin = {
  name: 'zod-english-only',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]v4[\\/](classic|core)[\\/]/.test(args.importer)
        ? { path: join(dirname(args.importer), '..', 'locales', 'index.js'), namespace: 'zod-locales' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
      contents: `export { default as en } from './en.js';`,
      resolveDir: dirname(args.path),
      loader: 'js',
    }));
  },
};

/**
 * Parts of zod nothing here calls, yet `z` re-exports them all: z.compile (its code generator),
 * z.fromJSONSchema and the JSON Schema generator class. In the bundle each export is a function that
 * throws; the build fails if zod's list of exports there changes.
 */
const ZOD_UNUSED: Record<string, string[]> = {
  'core/compile.js': [
    'INVALID',
    'ZodCompileAsyncError',
    'ZodCompileUnsupportedError',
    'compile',
    'withParser',
    'compileFn',
  ],
  'classic/from-json-schema.js': ['fromJSONSchema'],
  'core/json-schema-generator.js': ['JSONSchemaGenerator'],
};
const zodUnusedParts: Plugin = {
  name: 'zod-unused-parts',
  setup(build) {
    build.onLoad({ filter: /[\\/]node_modules[\\/]zod[\\/]v4[\\/](core|classic)[\\/][a-z-]+\.js$/ }, async (args) => {
      const part = args.path.split(/[\\/]/).slice(-2).join('/');
      const names = ZOD_UNUSED[part];
      if (!names) return undefined;
      const exported = [
        ...(await readFile(args.path, 'utf8')).matchAll(/^export (?:const|function|class) (\w+)/gm),
      ].map((match) => match[1]);
      if (exported.sort().join() !== [...names].sort().join())
        throw new Error(`${args.path} exports ${exported.join(', ')}; review zodUnusedParts`);
      const stub = (name: string) =>
        name === 'INVALID'
          ? `export const INVALID = Symbol.for('zod.compile.invalid');`
          : `export function ${name}() { throw new Error('zod ${name} is not in this bundle (build/bundle.ts)'); }`;
      return { contents: names.map(stub).join('\n'), loader: 'js' };
    });
  },
};

/**
 * pino loads its worker-thread transports (thread-stream, worker_threads) whether or not a transport
 * is configured; shared/log.ts configures none. It also asks worker_threads whether it runs on the
 * main thread, which every bundled function and pod-watch does.
 */
const PINO_THREAD_CHECK = "const { isMainThread } = require('worker_threads')";
const pinoWithoutTransports: Plugin = {
  name: 'pino-without-transports',
  setup(build) {
    build.onLoad({ filter: /[\\/]node_modules[\\/]pino[\\/]lib[\\/]tools\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      if (!source.includes(PINO_THREAD_CHECK))
        throw new Error(`${args.path}: the main-thread check has changed; review pinoWithoutTransports`);
      return { contents: source.replace(PINO_THREAD_CHECK, 'const isMainThread = true'), loader: 'js' };
    });
    build.onResolve({ filter: /^thread-stream$/ }, (args) =>
      /[\\/]node_modules[\\/]pino[\\/]/.test(args.importer)
        ? { path: 'thread-stream', namespace: 'pino-without-transports' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'pino-without-transports' }, () => ({
      contents: `module.exports = function ThreadStream() { throw new Error('pino transports are not in this bundle (build/bundle.ts)'); };`,
      loader: 'js',
    }));
  },
};

/**
 * pg picks its socket implementation when it loads: on a Node without a `navigator` global (Node 20)
 * its Cloudflare Workers probe constructs a `Response`, which loads Node's whole fetch
 * implementation at start-up (about half the cost of starting Node). These bundles run on Node only.
 */
const PG_CLOUDFLARE_PROBE = 'function isCloudflareRuntime() {';
const pgOnNode: Plugin = {
  name: 'pg-on-node',
  setup(build) {
    build.onLoad({ filter: /[\\/]node_modules[\\/]pg[\\/]lib[\\/]stream\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      if (!source.includes(PG_CLOUDFLARE_PROBE))
        throw new Error(`${args.path}: the Cloudflare probe has changed; review pgOnNode`);
      return { contents: source.replace(PG_CLOUDFLARE_PROBE, `${PG_CLOUDFLARE_PROBE} return false;`), loader: 'js' };
    });
  },
};

/**
 * The project's own classes and functions keep their names in the minified bundle: AppError names
 * each error after its class (`new.target.name`), and logged errors say which class they are.
 */
const TS_OPTIONS = { compilerOptions: { target: 'ES2022', verbatimModuleSyntax: true } } as const;
const ownNames: Plugin = {
  name: 'own-names',
  setup(build) {
    build.onLoad({ filter: /\.ts$/, namespace: 'file' }, async (args) => {
      if (args.path.includes(`${sep}node_modules${sep}`)) return undefined;
      const { code } = await transform(await readFile(args.path, 'utf8'), {
        loader: 'ts',
        format: 'esm',
        target: 'node22',
        keepNames: true,
        sourcefile: args.path,
        tsconfigRaw: TS_OPTIONS,
        logLevel: 'error',
      });
      return { contents: code, loader: 'js', resolveDir: dirname(args.path) };
    });
  },
};

/**
 * prom-client's index loads every part of it: the Pushgateway (http, https, zlib), Summary (tdigest)
 * and the cluster aggregator, none of which runs here. shared/runtime/metrics.ts imports what it uses.
 * Its CPU metric imports @opentelemetry/api for exemplars, which are never enabled here.
 */
const PROM_CLIENT_PARTS = {
  Registry: 'registry',
  Counter: 'counter',
  Gauge: 'gauge',
  Histogram: 'histogram',
  collectDefaultMetrics: 'defaultMetrics',
};
const promClientParts: Plugin = {
  name: 'prom-client-parts',
  setup(build) {
    build.onResolve({ filter: /^prom-client$/ }, (args) => ({ path: args.resolveDir, namespace: 'prom-client-parts' }));
    build.onLoad({ filter: /.*/, namespace: 'prom-client-parts' }, (args) => ({
      contents: Object.entries(PROM_CLIENT_PARTS)
        .map(([name, file]) => `export { default as ${name} } from 'prom-client/lib/${file}.js';`)
        .join('\n'),
      resolveDir: args.path,
      loader: 'js',
    }));
    build.onResolve({ filter: /^@opentelemetry\/api$/ }, (args) =>
      /[\\/]node_modules[\\/]prom-client[\\/]/.test(args.importer)
        ? { path: 'exemplars-off', namespace: 'prom-client-parts-otel' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'prom-client-parts-otel' }, () => ({
      contents: `const off = () => { throw new Error('prom-client exemplars are not built in; see build/bundle.ts'); }; module.exports = { get trace() { return off(); }, get context() { return off(); } };`,
      loader: 'js',
    }));
  },
};

/** The plugins every deployed bundle is built with (bench/workers.ts builds its workers with them too). */
export const DEPLOYED_PLUGINS: readonly Plugin[] = [
  zodEnglishOnly,
  zodUnusedParts,
  pgOnNode,
  promClientParts,
  pinoWithoutTransports,
  ownNames,
];

/** One ES module output as CommonJS; the entry's default export becomes module.exports itself. */
async function asCommonJs(file: OutputFile, isEntry: boolean): Promise<string> {
  const { code } = await transform(file.text, {
    format: 'cjs',
    target: 'node22',
    minifyWhitespace: true,
    logLevel: 'error',
    // import() of a chunk becomes a deferred require: Node would otherwise load the CommonJS chunk
    // as an ES module, whose named exports it cannot see.
    supported: { 'dynamic-import': false },
    ...(isEntry && { footer: 'module.exports=module.exports.default;' }),
  });
  return code;
}

/** `entry` and every output it imports, transitively: statically only, or also through import(). */
function reachable(metafile: Metafile, entry: string, kinds: readonly string[]): string[] {
  const seen = new Set<string>();
  const visit = (output: string) => {
    if (seen.has(output)) return;
    seen.add(output);
    for (const imported of metafile.outputs[output]!.imports)
      if (kinds.includes(imported.kind) && !imported.external) visit(imported.path);
  };
  visit(entry);
  return [...seen];
}

const STATIC = ['import-statement'];
const STATIC_AND_LAZY = ['import-statement', 'dynamic-import'];

/**
 * One folder per bundle from the shared build: handler.js (the entry, renamed) and every chunk it
 * can reach, at the same relative paths, with their license texts. Each folder is self-contained.
 */
async function writeBundle(
  name: string,
  outDir: string,
  staging: string,
  metafile: Metafile,
  write: (output: string, to: string) => Promise<void>,
): Promise<BundleResult> {
  const folder = join(outDir, name);
  // Chunk names carry content hashes: a rebuild would leave the old ones beside the new.
  await rm(folder, { recursive: true, force: true });
  const entry = relative(ROOT, join(staging, `${name}.js`));
  const outputs = reachable(metafile, entry, STATIC_AND_LAZY);
  const start = reachable(metafile, entry, STATIC);
  const target = (output: string) =>
    output === entry ? join(folder, 'handler.js') : join(folder, relative(staging, join(ROOT, output)));
  await Promise.all(outputs.map((output) => write(output, target(output))));
  await writeFile(join(folder, 'package.json'), packageJson(name));
  const inputsOf = (of: string[]) =>
    [...new Set(of.flatMap((output) => Object.keys(metafile.outputs[output]!.inputs)))].sort();
  const bytesOf = (of: string[]) => of.reduce((sum, output) => sum + metafile.outputs[output]!.bytes, 0);
  const startInputBytes: Record<string, number> = {};
  for (const output of start)
    for (const [input, { bytesInOutput }] of Object.entries(metafile.outputs[output]!.inputs))
      startInputBytes[input] = (startInputBytes[input] ?? 0) + bytesInOutput;
  return {
    name,
    file: join(folder, 'handler.js'),
    files: outputs.map(target),
    bytes: bytesOf(outputs),
    startFiles: start.map(target),
    startBytes: bytesOf(start),
    inputs: inputsOf(outputs),
    startInputs: inputsOf(start),
    startInputBytes,
  };
}

/**
 * Bundle every function of FUNCTION_NAMES and the pod-watch source (or those named in `only`) into
 * `outDir`. One esbuild run for all (the sources are parsed once); chunks are split across the
 * entries, and each bundle's folder gets the ones it reaches.
 */
export async function bundleAll(
  outDir = join(ROOT, 'dist', 'openfaas'),
  only?: readonly string[],
): Promise<BundleResult[]> {
  const entries = new Map<string, string>([
    ...FUNCTION_NAMES.map((fn) => [fn, functionEntry(fn)] as const),
    ['pod-watch', podWatchEntry()],
  ]);
  const names = [...entries.keys()].filter((name) => !only || only.includes(name));
  // Never written as such: the outputs go to each bundle's folder.
  const staging = join(outDir, '.staging');
  const result = await build({
    ...common,
    absWorkingDir: ROOT,
    outdir: staging,
    entryPoints: Object.fromEntries(names.map((name) => [name, `entry:${name}`])),
    plugins: [virtualEntries(entries), ...DEPLOYED_PLUGINS],
  });
  const files = new Map(result.outputFiles!.map((file) => [relative(ROOT, file.path), file]));
  const converted = new Map<string, Promise<string>>();
  const entryOutputs = new Set(names.map((name) => relative(ROOT, join(staging, `${name}.js`))));
  const write = async (output: string, to: string) => {
    if (!converted.has(output)) converted.set(output, asCommonJs(files.get(output)!, entryOutputs.has(output)));
    await mkdir(dirname(to), { recursive: true });
    await writeFile(to, await converted.get(output)!);
    const legal = files.get(`${output}.LEGAL.txt`);
    if (legal) await writeFile(`${to}.LEGAL.txt`, legal.contents);
  };
  const results: BundleResult[] = [];
  // One bundle after another: two bundles share no folder, but a folder is removed before it is written.
  for (const name of names) results.push(await writeBundle(name, outDir, staging, result.metafile!, write));
  return results;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const results = await bundleAll(process.argv[2] ? resolve(process.argv[2]) : undefined);
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MB`;
  for (const { name, file, bytes, startBytes } of results)
    console.log(`${name.padEnd(16)} ${mb(startBytes)} at start of ${mb(bytes)}  ${file}`);
}

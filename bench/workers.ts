/*
 * The child processes of the fleet benchmarks (oom-scan, snapshot-sync): the simulator (TypeScript,
 * through tsx) and the function (bundled by esbuild and started with plain node, so its memory is
 * the function's, not the TypeScript loader's). Asked over IPC; each request carries an id its
 * answer repeats. BENCH_NODE (a node binary) runs the functions under another node than this one,
 * e.g. the production runtime's major; the simulator and the benchmark itself stay on this one.
 */
import { execFileSync, fork } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Plugin } from 'esbuild';
import { DEPLOYED_PLUGINS } from '../build/bundle.js';
import { readStack } from '../build/stack.js';

export interface Worker<Ask, Answer> {
  ready: Record<string, unknown>;
  ask(request: Ask): Promise<Answer>;
  stop(): void;
}

/*
 * The deployed bundle is CommonJS (build/bundle.ts turns each ES module output into it), so every
 * node:http and node:https import in it is a require(). An ES module import of them instead makes
 * Node 22 build the module's namespace, whose WebSocket getter loads undici and compiles its
 * WebAssembly parser (about 11 MiB the deployed functions never pay). The worker, an ES module,
 * takes them by require as the deployed bundle does.
 */
const httpByRequire: Plugin = {
  name: 'http-by-require',
  setup(b) {
    // The module's own require() stays the runtime's (external), everyone else's import comes here.
    b.onResolve({ filter: /^(node:)?https?$/ }, (args) =>
      args.namespace === 'http-by-require'
        ? { path: args.path, external: true }
        : { path: args.path.replace(/^node:/, ''), namespace: 'http-by-require' },
    );
    b.onLoad({ filter: /.*/, namespace: 'http-by-require' }, (args) => ({
      contents: `module.exports = require('node:${args.path}');`,
      loader: 'js',
    }));
  },
};

/**
 * bench/<name>.ts as a deployed bundle in `outdir`: ES modules, split at the lazy imports, minified,
 * with the deployed bundles' plugins (build/bundle.ts), so names are kept in the project's own code
 * only, as deployed: esbuild's keepNames would define `name` on every library function at start-up.
 * The target stays this machine's Node, which runs the worker.
 */
export async function bundleWorker(name: string, outdir: string): Promise<string> {
  await build({
    entryPoints: { [name]: fileURLToPath(new URL(`./${name}.ts`, import.meta.url)) },
    outdir,
    bundle: true,
    platform: 'node',
    format: 'esm',
    splitting: true,
    mainFields: ['module', 'main'],
    target: 'node20',
    minify: true,
    plugins: [...DEPLOYED_PLUGINS, httpByRequire],
    outExtension: { '.js': '.mjs' },
    external: ['pg-native', 'bufferutil', 'utf-8-validate'],
    banner: {
      js: "import { createRequire as createRequireForBundle } from 'node:module'; const require = createRequireForBundle(import.meta.url);",
    },
    logLevel: 'error',
  });
  return join(outdir, `${name}.mjs`);
}

/**
 * The node flags a function is deployed with (its NODE_OPTIONS in stack.yml, which the Knative
 * Service repeats), for a function process that measures what runs.
 */
export function deployedNodeOptions(functionName: string): string[] {
  const options = deployedEnvironment(functionName).NODE_OPTIONS ?? '';
  return options.split(/\s+/).filter((flag) => flag !== '');
}

/** A function's environment as stack.yml deploys it (its own settings and the shared file's). */
export function deployedEnvironment(functionName: string): Record<string, string> {
  const stack = readStack(fileURLToPath(new URL('..', import.meta.url)));
  return stack.functions.find((fn) => fn.name === functionName)?.environment ?? {};
}

/** The node binary the bundled functions run under: BENCH_NODE when set, else this process's. */
const functionNode = process.env.BENCH_NODE || process.execPath;

/**
 * Which node ran the functions, for a section that reports their memory (it depends on the node:
 * V8's heap and the binary itself): "functions ran on node v22.23.5 (BENCH_NODE)".
 */
export function functionNodeNote(): string {
  if (!process.env.BENCH_NODE) return `functions ran on node ${process.version} (this machine's)`;
  const version = execFileSync(functionNode, ['--version'], { encoding: 'utf8' }).trim();
  return `functions ran on node ${version} (BENCH_NODE)`;
}

/**
 * A TypeScript file (relative to bench/) runs through tsx, a bundle (.mjs, absolute) with plain
 * node (BENCH_NODE's when set); either with `nodeOptions` (e.g. a heap limit).
 */
export async function startWorker<Ask, Answer>(file: string, nodeOptions: string[] = []): Promise<Worker<Ask, Answer>> {
  const bundled = file.endsWith('.mjs');
  const path = bundled ? file : fileURLToPath(new URL(file, import.meta.url));
  const child = fork(path, [], {
    execPath: bundled ? functionNode : process.execPath,
    execArgv: bundled ? nodeOptions : [...nodeOptions, '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<number, (answer: Answer & { error?: string }) => void>();
  let serial = 0;
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${file} exited (${code}) before it was ready`)));
    child.once('error', reject); // e.g. a BENCH_NODE that is not there
    child.on('message', (message: { id?: number; ready?: Record<string, unknown> } & Answer & { error?: string }) => {
      if (message.ready) resolve(message.ready);
      else if (message.id !== undefined) waiting.get(message.id)?.(message);
    });
  });
  return {
    ready,
    ask: (request) =>
      new Promise((resolve, reject) => {
        const id = ++serial;
        waiting.set(id, (answer) => {
          waiting.delete(id);
          if (answer.error !== undefined) reject(new Error(answer.error));
          else resolve(answer);
        });
        child.send({ ...request, id });
      }),
    stop: () => child.disconnect(),
  };
}

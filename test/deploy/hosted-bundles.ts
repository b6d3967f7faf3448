/*
 * Bundled functions running as separate processes the way the node22 image runs them: build the
 * bundles and the template host into a temporary folder, start one process per bundle, and wait
 * until it answers. Shared by the bundle tests and the cold-start benchmark.
 */
import type { ChildProcess } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { build } from 'esbuild';
import { bundleAll } from '../../build/bundle.js';
import type { BundleResult } from '../../build/bundle.js';
import { spawnTracked } from '../support/processes.js';

export interface BuiltBundles {
  folder: string;
  host: string;
  bundles: BundleResult[];
  remove(): Promise<void>;
}

export async function buildBundles(only?: readonly string[]): Promise<BuiltBundles> {
  const folder = await mkdtemp(join(tmpdir(), 'devenv-bundles-'));
  const host = join(folder, 'template-host.cjs');
  const [bundles] = await Promise.all([
    bundleAll(join(folder, 'openfaas'), only),
    build({
      entryPoints: [new URL('./template-host.ts', import.meta.url).pathname],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      outfile: host,
      logLevel: 'error',
    }),
  ]);
  return { folder, host, bundles, remove: () => rm(folder, { recursive: true, force: true }) };
}

/**
 * A copy of a bundle with only the files it reads at start-up (handler.js and the chunks it
 * requires before answering), under `folder`: whatever it loads lazily is missing there.
 */
export async function startFilesOnly(bundle: BundleResult, folder: string): Promise<BundleResult> {
  const from = dirname(bundle.file);
  const to = join(folder, 'start-only', bundle.name);
  await Promise.all(bundle.startFiles.map((file) => cp(file, join(to, relative(from, file)))));
  const copied = bundle.startFiles.map((start) => join(to, relative(from, start)));
  return { ...bundle, file: join(to, 'handler.js'), files: copied, startFiles: copied };
}

export interface HostedFunction {
  url: string;
  process: ChildProcess;
  /** What the process wrote to stderr (start-up failures end up here). */
  stderr(): string;
  stop(): Promise<void>;
}

/** Start `node template-host.cjs` for one bundle on `port`, with exactly `env` (plus PATH). */
export function hostBundle(
  host: string,
  bundle: BundleResult,
  port: number,
  env: Record<string, string>,
): HostedFunction {
  const child = spawnTracked(process.execPath, [host], {
    env: { PATH: process.env.PATH ?? '', HANDLER_PATH: bundle.file, PORT: String(port), RAW_BODY: 'true', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url: `http://127.0.0.1:${port}`,
    process: child,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Poll until the process answers any HTTP request; the answer's arrival time in ms since `startedAt`. */
export async function firstAnswer(hosted: HostedFunction, startedAt: number, timeoutMs = 15_000): Promise<number> {
  while (performance.now() - startedAt < timeoutMs) {
    if (hosted.process.exitCode !== null)
      throw new Error(`process exited with ${hosted.process.exitCode}: ${hosted.stderr()}`);
    const answered = await fetch(`${hosted.url}/healthz`).then(
      () => true,
      () => false,
    );
    if (answered) return performance.now() - startedAt;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`no answer within ${timeoutMs} ms: ${hosted.stderr()}`);
}

/*
 * `npm run build:cli` (also run by npm ci's prepare step): the CLI as ES modules in dist/cli/,
 * split so `help` loads only the command table and a command loads only its own code. Packages
 * stay in node_modules. dist/cli/inputs.json lists the sources it was built from, so
 * bin/devenv-lifecycle.mjs can tell a stale build (a source edited since) and run the sources.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Plugin } from 'esbuild';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const CLI_DIR = join(ROOT, 'dist', 'cli');

/**
 * migrate.ts finds its .sql files beside itself through import.meta.url; in the bundle that URL
 * is the chunk's, two folders below the root, so it is pointed back at the source folder.
 */
const migrationsBesideSource: Plugin = {
  name: 'migrations-beside-source',
  setup(build) {
    build.onLoad({ filter: /[\\/]shared[\\/]db[\\/]migrate\.ts$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      return {
        contents: source.replaceAll('import.meta.url', `new URL('../../shared/db/migrate.ts', import.meta.url)`),
        loader: 'ts',
      };
    });
  },
};

/** `outdir` must sit two folders below the root, as dist/cli does (see migrationsBesideSource). */
export async function buildCli(outdir = CLI_DIR): Promise<string[]> {
  // Chunk names carry content hashes: a rebuild would leave the old ones beside the new.
  await rm(outdir, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { cli: 'local/cli.ts' },
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    metafile: true,
    logLevel: 'error',
    plugins: [migrationsBesideSource],
  });
  const inputs = Object.keys(result.metafile.inputs).sort();
  await writeFile(join(outdir, 'inputs.json'), `${JSON.stringify(inputs)}\n`);
  return inputs;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const inputs = await buildCli();
  process.stdout.write(`devenv-lifecycle CLI built into dist/cli (${inputs.length} sources)\n`);
}

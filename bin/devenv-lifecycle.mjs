#!/usr/bin/env node
// The project CLI, built into dist/cli by `npm run build:cli` (npm ci runs it as the prepare
// step). When that build is missing or older than a source it was built from (a source edited
// in this checkout since), the sources run through tsx instead: slower, never stale.
import { readFileSync, statSync } from 'node:fs';
import { URL } from 'node:url';

const root = new URL('../', import.meta.url);

function builtAndFresh() {
  try {
    const builtAt = statSync(new URL('dist/cli/cli.mjs', root)).mtimeMs;
    const inputs = JSON.parse(readFileSync(new URL('dist/cli/inputs.json', root), 'utf8'));
    return inputs.every((input) => statSync(new URL(input, root)).mtimeMs <= builtAt);
  } catch {
    return false;
  }
}

if (builtAndFresh()) {
  await import('../dist/cli/cli.mjs');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../local/cli.ts');
}

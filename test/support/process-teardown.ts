/*
 * Global setup: a directory where workers record the process groups they spawned (processes.ts);
 * at the end of the run, whatever a dead worker left there is ended.
 */
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { sweepRegistry } from './processes.js';

declare module 'vitest' {
  export interface ProvidedContext {
    processRegistry: string;
  }
}

export default function setup(project: TestProject): () => void {
  const dir = join(tmpdir(), `devenv-test-processes-${process.pid}`);
  project.provide('processRegistry', dir);
  return () => sweepRegistry(dir, readdirEntries(dir));
}

function readdirEntries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

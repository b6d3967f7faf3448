/*
 * Run by testkit-processes.test.ts in a vitest of its own: the tree starts in beforeEach (so the
 * time it takes to start is not the test's), its pids go to PIDS_FILE, and the test then hangs
 * until its timeout. The parent checks that nothing of the tree is left.
 */
import { writeFileSync } from 'node:fs';
import { beforeEach, it } from 'vitest';
import { startStubbornTree } from '../stubborn-tree.js';

beforeEach(async () => {
  writeFileSync(process.env.PIDS_FILE!, JSON.stringify(await startStubbornTree()));
});

it('hangs past its timeout', () => new Promise<void>(() => undefined), 500);

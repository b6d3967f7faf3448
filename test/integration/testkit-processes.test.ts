/*
 * The testkit ends every process a test spawns through spawnTracked(), with the processes those
 * start, even when they ignore SIGTERM: after the test passes, and after it times out (shown by a
 * vitest run of its own whose only test hangs past its timeout).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';
import { execTracked, isRunning, ProcessFailed, runTracked } from '../support/processes.js';
import { startStubbornTree } from '../support/stubborn-tree.js';
import type { StubbornTree } from '../support/stubborn-tree.js';

const root = path.resolve(import.meta.dirname, '../..');
const scratch = mkdtempSync(path.join(tmpdir(), 'testkit-processes-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const nothingLeft = (tree: StubbornTree) =>
  eventually(async () => !isRunning(tree.child) && !isRunning(tree.grandchild), 'the tree ended', 10_000);

describe('spawnTracked', () => {
  let tree: StubbornTree;

  it('starts a child that ignores SIGTERM and has a grandchild (left running by this test)', async () => {
    tree = await startStubbornTree();
    process.kill(tree.child, 'SIGTERM');
    process.kill(tree.grandchild, 'SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect([isRunning(tree.child), isRunning(tree.grandchild)]).toEqual([true, true]);
  });

  it('…and the testkit ended both when that test ended', async () => {
    await nothingLeft(tree);
  });

  it('ends them when the test that started them times out', async () => {
    const pidsFile = path.join(scratch, 'pids.json');
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('VITEST')));
    const run = await runTracked(
      process.execPath,
      [
        path.join(root, 'node_modules/vitest/vitest.mjs'),
        'run',
        '--config',
        'test/support/process-guard-case/vitest.config.ts',
      ],
      {
        cwd: root,
        env: { ...env, PIDS_FILE: pidsFile, NO_COLOR: '1' },
      },
    );
    expect(run.code).toBe(1);
    expect(`${run.stdout}${run.stderr}`).toMatch(/Test timed out in 500ms/);
    await nothingLeft(JSON.parse(readFileSync(pidsFile, 'utf8')) as StubbornTree);
  }, 120_000);
});

describe('runTracked and execTracked', () => {
  it('ends the whole group at timeoutMs, the command and what it started', async () => {
    const started = Date.now();
    const run = await runTracked('sh', ['-c', 'sleep 30 & echo $!; wait'], { timeoutMs: 500 });
    expect(run.signal).toBe('SIGKILL');
    expect(Date.now() - started).toBeLessThan(10_000);
    const grandchild = Number(run.stdout.trim());
    await eventually(async () => !isRunning(grandchild), 'the sleep ended', 5_000);
  });

  it('writes `input` to standard input', async () => {
    expect((await execTracked('cat', [], { input: 'to stdin' })).stdout).toBe('to stdin');
  });

  it('execTracked rejects a non-zero exit with its code and output, and a command that cannot start', async () => {
    const failed = await execTracked('sh', ['-c', 'echo out; echo err >&2; exit 3']).catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(ProcessFailed);
    expect(failed).toMatchObject({ code: 3, stdout: 'out\n', stderr: 'err\n' });
    await expect(execTracked('no-such-command-here', [])).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

/*
 * `npm run sim`: serves on loopback, writes a kubeconfig that reaches it, stops cleanly on SIGTERM,
 * and refuses bad flags with one line and status 2. Run from a scratch directory, so the
 * kubeconfig lands there and not in the checkout's .data/.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawnTracked } from '../support/processes.js';

const root = path.resolve(import.meta.dirname, '../..');
const tsx = path.join(root, 'node_modules', '.bin', 'tsx');
const cli = path.join(root, 'sim', 'cli.ts');
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'sim-cli-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function start(args: string[]) {
  const child = spawnTracked(tsx, [cli, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => ({ stdout, stderr }) };
}

describe('npm run sim', () => {
  it('serves the API, writes its kubeconfig, and stops on SIGTERM', async () => {
    const sim = start(['--port', '0']);
    // tsx compiles the simulator on start: seconds on a busy machine, so allow up to 40 s.
    for (let i = 0; i < 800 && !sim.output().stdout.includes('kubeconfig:'); i++)
      await new Promise((r) => setTimeout(r, 50));
    const url = /at (http:\/\/127\.0\.0\.1:\d+)/.exec(sim.output().stdout)?.[1];
    expect(url).toBeDefined();
    const kubeconfig = readFileSync(path.join(dir, '.data', 'sim-kubeconfig'), 'utf8');
    expect(kubeconfig).toContain(`server: ${url}`);
    expect(kubeconfig).toContain('insecure-skip-tls-verify: true');
    expect((await fetch(`${url}/api/v1/namespaces`)).status).toBe(200);
    sim.child.kill('SIGTERM');
    expect(await sim.exited).toBe(0);
  }, 60_000);

  it('refuses an unknown flag or a host off loopback with one line and status 2', async () => {
    for (const args of [['--bogus'], ['--host', '0.0.0.0']]) {
      const sim = start(args);
      expect(await sim.exited).toBe(2);
      const lines = sim.output().stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^sim: .*usage: npm run sim/);
    }
  }, 60_000);
});

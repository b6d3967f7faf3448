/*
 * kubectl, a standard client, against the simulator as a newcomer uses it: discovery, `get` with
 * the server-printed Table (NAME READY STATUS RESTARTS AGE), `apply` without flags (validation on
 * the server through OpenAPI v3), `get -w`, deletion that waits for the pod to go (by watch), and
 * exec over WebSocket. Skipped, saying so, where kubectl is not installed (apt-get install kubectl).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSim } from '../../sim/server.js';
import type { Sim } from '../../sim/server.js';
import { execTracked, spawnTracked, toolInstalled } from '../support/processes.js';

const installed = await toolInstalled(
  { command: 'kubectl', args: ['version', '--client'], timeoutMs: 10_000 },
  'the kubectl checks of kube-kubectl.test.ts (apt-get install kubectl)',
);

describe.skipIf(!installed)('kubectl against the simulator', () => {
  let sim: Sim;
  let dir: string;
  const kubectl = async (...args: string[]) => {
    const env = { ...process.env, KUBECONFIG: path.join(dir, 'kubeconfig'), KUBECACHEDIR: path.join(dir, 'cache') };
    return execTracked('kubectl', args, { env, timeoutMs: 15_000 });
  };

  beforeAll(async () => {
    sim = await startSim();
    dir = mkdtempSync(path.join(tmpdir(), 'kubectl-sim-'));
    writeFileSync(path.join(dir, 'kubeconfig'), sim.kubeconfigYaml());
    sim.kube.addPod({ name: 'web-1', namespace: 'dev', labels: { app: 'web' } });
    sim.kube.addPod({ name: 'db-1', namespace: 'dev', labels: { app: 'db' } });
    const box = sim.kube.addPod({ name: 'box', namespace: 'default', terminationGracePeriodSeconds: 1 });
    sim.kube.writeFile(box, '/home/dev/f', 'hello from the simulator\n');
  });
  afterAll(async () => {
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('get pods -A lists every namespace', async () => {
    const { stdout } = await kubectl('get', 'pods', '-A', '--no-headers');
    expect(
      stdout
        .trim()
        .split('\n')
        .map((line) => line.split(/\s+/).slice(0, 2).join('/')),
    ).toEqual(['default/box', 'dev/db-1', 'dev/web-1']);
  });

  it('get pods -n ns -l selects by label', async () => {
    const { stdout } = await kubectl('get', 'pods', '-n', 'dev', '-l', 'app=web', '-o', 'name');
    expect(stdout.trim()).toBe('pod/web-1');
  });

  it('exec runs a command in the pod over WebSocket', async () => {
    const { stdout } = await kubectl('exec', 'box', '--', 'cat', '/home/dev/f');
    expect(stdout).toBe('hello from the simulator\n');
    expect(sim.kube.execs({ namespace: 'default', name: 'box' }).at(-1)).toMatchObject({
      argv: ['cat', '/home/dev/f'],
      exitCode: 0,
    });
  });

  it('exec reports a non-zero exit', async () => {
    const failure = await kubectl('exec', 'box', '--', 'sh', '-c', 'exit 4').then(
      () => undefined,
      (err: unknown) => err as { code: number; stderr: string },
    );
    expect(failure?.code).toBe(4);
    expect(failure?.stderr).toMatch(/command terminated with exit code 4/);
  });

  it('get pods prints the Table the server computes: NAME READY STATUS RESTARTS AGE (printers.go printPod)', async () => {
    const oom = sim.kube.addPod({ name: 'oom-1', namespace: 'table' });
    sim.kube.oomKill(oom);
    sim.kube.addPod({ name: 'pending-1', namespace: 'table', phase: 'Pending' });
    const { stdout } = await kubectl('get', 'pods', '-n', 'table');
    const [header, ...rows] = stdout
      .trim()
      .split('\n')
      .map((line) => line.trim().split(/\s{2,}/));
    expect(header).toEqual(['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE']);
    expect(rows.map((r) => r.slice(0, 3))).toEqual([
      ['oom-1', '1/1', 'Running'],
      ['pending-1', '0/1', 'ContainerCreating'],
    ]);
    expect(rows.map((r) => r[3])).toEqual([expect.stringMatching(/^1 \(\d+s ago\)$/), '0']);
    const wide = await kubectl('get', 'pods', '-n', 'table', '-o', 'wide');
    expect(wide.stdout.split('\n')[0]).toMatch(/IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES/);
  });

  it('apply without --validate=false creates, then leaves an unchanged object unchanged', async () => {
    const manifest = path.join(dir, 'pod.yaml');
    writeFileSync(
      manifest,
      'apiVersion: v1\nkind: Pod\nmetadata:\n  name: applied\n  namespace: default\nspec:\n  containers:\n  - name: c\n    image: busybox\n',
    );
    expect((await kubectl('apply', '-f', manifest)).stdout.trim()).toBe('pod/applied created');
    expect((await kubectl('apply', '-f', manifest)).stdout.trim()).toBe('pod/applied unchanged');
    expect(sim.requests.all().some((r) => r.method === 'POST' && r.query.get('fieldValidation') === 'Strict')).toBe(
      true,
    );
    expect(sim.kube.pod({ namespace: 'default', name: 'applied' })).toBeDefined();
  });

  it('get -w prints each change as a row', async () => {
    sim.kube.addPod({ name: 'watched', namespace: 'watching', terminationGracePeriodSeconds: 30 });
    const env = { ...process.env, KUBECONFIG: path.join(dir, 'kubeconfig'), KUBECACHEDIR: path.join(dir, 'cache') };
    const child = spawnTracked('kubectl', ['get', 'pods', '-n', 'watching', '-w'], { env });
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    try {
      await expect.poll(() => out, { timeout: 10_000 }).toMatch(/watched\s+1\/1\s+Running/);
      await kubectl('delete', 'pod', 'watched', '-n', 'watching', '--wait=false');
      await expect.poll(() => out, { timeout: 10_000 }).toMatch(/watched\s+1\/1\s+Terminating/);
      expect(out.match(/^NAME/gm)).toHaveLength(1);
    } finally {
      child.kill();
    }
  });

  it('delete pod waits until the pod is gone after its grace period', async () => {
    const { stdout } = await kubectl('delete', 'pod', 'box');
    expect(stdout.trim()).toBe('pod "box" deleted');
    expect(sim.kube.pod({ namespace: 'default', name: 'box' })).toBeUndefined();
  });
});

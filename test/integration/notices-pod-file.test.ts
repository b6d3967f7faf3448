/*
 * The notices module's pod channel through the real client against the simulator: one exec per
 * notice, content on stdin, optional replace and broadcast; and its claim-then-send step.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Invalid } from '../../shared/errors.js';
import { createKube } from '../../shared/kube/index.js';
import type { Kube } from '../../shared/kube/index.js';
import { claimAndSend, claimLeaseSeconds, isAbandoned } from '../../shared/notices/claims.js';
import { podFileArgv, podFileScript, writePodFile } from '../../shared/notices/pod-file.js';
import { startSim } from '../../sim/server.js';
import type { Sim } from '../../sim/server.js';

let sim: Sim;
let kube: Kube;
let serial = 0;
let pod: { namespace: string; name: string };
let target: { namespace: string; pod: string; container: string };
const file = { path: '/home/dev/NOTICE_NEW.txt', replaces: '/home/dev/NOTICE_*.txt', content: 'hello "$HOME" `id`\n' };

beforeAll(async () => {
  sim = await startSim();
  kube = createKube({ server: sim.url, token: sim.token, requestTimeoutMs: 1_000, execTimeoutMs: 1_000 });
});
afterAll(() => sim.close());
beforeEach(() => {
  serial += 1;
  pod = { namespace: 'notices', name: `dev-${serial}` };
  target = { namespace: pod.namespace, pod: pod.name, container: 'gpu-dev' };
  sim.kube.addPod(pod);
});
afterEach(() => sim.faults.clear());

describe('writePodFile', () => {
  it('replaces the older files, writes stdin byte for byte and broadcasts, in one exec', async () => {
    sim.kube.writeFile(pod, '/home/dev/NOTICE_OLD.txt', 'old');
    sim.kube.writeFile(pod, '/home/dev/keep.txt', 'keep');
    expect(await writePodFile(kube, target, file, 'line $(id)\n')).toEqual({ written: true, broadcast: true });
    expect(sim.kube.listFiles(pod, '/home/dev')).toEqual(['NOTICE_NEW.txt', 'keep.txt']);
    expect(sim.kube.readFile(pod, file.path)).toBe(file.content);
    expect(sim.kube.broadcasts(pod).map((b) => b.message)).toEqual(['line $(id)\n']);
    const execs = sim.kube.execs(pod);
    expect(execs).toHaveLength(1);
    expect(execs[0]!.argv).toEqual([
      'sh',
      '-c',
      'rm -f /home/dev/NOTICE_*.txt && cat > "$1" || exit 1; wall "$2" || exit 75',
      'sh',
      file.path,
      'line $(id)',
    ]);
  });

  it('without a broadcast line writes the file only: a second write is the same file, and nobody is told twice', async () => {
    expect(await writePodFile(kube, target, file)).toEqual({ written: true, broadcast: false });
    expect(await writePodFile(kube, target, file)).toEqual({ written: true, broadcast: false });
    expect(sim.kube.readFile(pod, file.path)).toBe(file.content);
    expect(sim.kube.broadcasts(pod)).toEqual([]);
    expect(sim.kube.execs(pod).map((e) => e.argv.length)).toEqual([5, 5]);
  });

  it('says the pod is gone on a 404, and reports any other failure as an error, never throwing', async () => {
    expect(await writePodFile(kube, { ...target, pod: 'nobody' }, file)).toMatchObject({ written: false, gone: true });
    sim.faults.add({ path: /\/exec/, status: 500, count: 1 });
    const failed = await writePodFile(kube, target, file);
    expect(failed).toMatchObject({ written: false, broadcast: false });
    expect(failed).not.toHaveProperty('gone');
    expect(sim.kube.readFile(pod, file.path)).toBeUndefined();
  });

  it('keeps shell syntax out of the script: the glob must be a plain path', () => {
    expect(() => podFileScript('/home/dev/$(id)*.txt', false)).toThrow(Invalid);
    expect(() => podFileArgv({ path: '/x', replaces: '/tmp/a; rm -rf /' })).toThrow(Invalid);
    expect(podFileArgv({ path: '/x' })).toEqual(['sh', '-c', 'cat > "$1" || exit 1', 'sh', '/x']);
  });
});

describe('claimAndSend', () => {
  it('sends only the claims won, answers a throwing send with its error, and lists the rest', async () => {
    const sent: string[] = [];
    const outcome = await claimAndSend(
      ['a', 'b', 'c', 'd'],
      async (all) => all.filter((n) => n !== 'b'),
      async (n) => {
        if (n === 'c') throw new Error('boom');
        sent.push(n);
        return `ok ${n}`;
      },
      { fanOut: 2, onError: (error) => `failed: ${error}` },
    );
    expect(sent.sort()).toEqual(['a', 'd']);
    expect(outcome.sent).toEqual([
      { notice: 'a', result: 'ok a' },
      { notice: 'c', result: 'failed: boom' },
      { notice: 'd', result: 'ok d' },
    ]);
    expect(outcome.claimedElsewhere).toEqual(['b']);
  });

  it('holds a claim for the run budget plus one send, and not a millisecond longer', () => {
    expect(claimLeaseSeconds(50, 30_000)).toBe(80);
    expect(claimLeaseSeconds(50, 1)).toBe(51);
    const now = new Date('2026-06-01T12:00:00Z');
    expect(isAbandoned(new Date(now.getTime() - 80_000), now, 80)).toBe(false);
    expect(isAbandoned(new Date(now.getTime() - 80_001), now, 80)).toBe(true);
  });
});
